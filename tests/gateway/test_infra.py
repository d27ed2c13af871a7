"""The gateway's deployment files parse and agree with each other and with the code: the
Kubernetes objects, the FlytePropeller snippets and the container build."""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from handler.gateway.settings import ENV_PREFIX, GatewaySettings, env_name
from handler.routes import ROUTES

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra" / "gateway"


def kube_objects() -> dict[str, Any]:
    docs = list(yaml.safe_load_all((INFRA / "kubernetes.yaml").read_text()))
    return {doc["kind"]: doc for doc in docs if doc}


def container(objects: dict[str, Any]) -> dict[str, Any]:
    (only,) = objects["Deployment"]["spec"]["template"]["spec"]["containers"]
    return dict(only)


def test_kubernetes_objects_fit_together() -> None:
    objects = kube_objects()
    assert set(objects) == {
        "ServiceAccount", "Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy"
    }  # fmt: skip
    deployment, service = objects["Deployment"], objects["Service"]
    pod = deployment["spec"]["template"]
    assert (
        deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    )
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert pod["spec"]["serviceAccountName"] == objects["ServiceAccount"]["metadata"]["name"]
    assert "eks.amazonaws.com/role-arn" in objects["ServiceAccount"]["metadata"]["annotations"]
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True

    gateway = container(objects)
    ports = {p["name"]: p["containerPort"] for p in gateway["ports"]}
    assert ports == {"grpc": 8000, "metrics": 9090}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert gateway[probe]["grpc"] == {"port": ports["grpc"]}, probe  # native gRPC probe
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]}["grpc"] == ports["grpc"]
    assert service["spec"]["clusterIP"] == "None"  # headless, for round_robin over pods
    assert gateway["resources"]["requests"] and gateway["resources"]["limits"]["memory"]
    # The kubelet's grace period covers the preStop sleep, then the gateway's drain after SIGTERM.
    grace = pod["spec"]["terminationGracePeriodSeconds"]
    sleep, seconds = gateway["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep == "sleep" and float(seconds) >= 3  # long enough for endpoints to update
    env = {e["name"]: e["value"] for e in gateway["env"]}
    assert grace > float(seconds) + float(env[env_name("shutdown_grace_s")])


def test_the_network_policy_admits_propeller_to_grpc_and_monitoring_to_metrics_only() -> None:
    objects = kube_objects()
    policy = objects["NetworkPolicy"]
    pod_labels = objects["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert policy["metadata"]["namespace"] == objects["Deployment"]["metadata"]["namespace"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert policy["spec"]["policyTypes"] == ["Ingress"]

    allowed = {}
    for rule in policy["spec"]["ingress"]:
        (port,) = rule["ports"]
        assert rule["from"], "a rule without sources would admit everyone"
        allowed[port["port"]] = rule["from"]
    assert set(allowed) == {p["name"] for p in container(objects)["ports"]} == {"grpc", "metrics"}
    assert allowed["grpc"] == [
        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "flytepropeller"}}}
    ]
    (monitoring,) = allowed["metrics"]
    assert set(monitoring) == {"namespaceSelector"}


def test_every_gateway_variable_in_the_manifest_is_a_real_setting() -> None:
    env = {e["name"]: e["value"] for e in container(kube_objects())["env"]}
    known = {env_name(name) for name in GatewaySettings.__dataclass_fields__}
    ours = {name for name in env if name.startswith(ENV_PREFIX)}
    assert ours <= known, ours - known
    assert env_name("target_url") in ours and "AWS_REGION" in env


@pytest.mark.parametrize(
    ("snippet", "plugin", "deployments_key", "mapping_key"),
    [
        ("propeller-connector.yaml", "connector-service", "connectors", "connectorForTaskTypes"),
        ("propeller-agent-service.yaml", "agent-service", "agents", "agentForTaskTypes"),
    ],
)
def test_propeller_snippets_route_mmcloud_task_to_the_gateway_service(
    snippet: str, plugin: str, deployments_key: str, mapping_key: str
) -> None:
    config = yaml.safe_load((INFRA / snippet).read_text())
    plugins = config["tasks"]["task-plugins"]
    assert plugin in plugins["enabled-plugins"]
    assert plugins["default-for-task-types"]["mmcloud_task"] == plugin

    section = config["plugins"][plugin]
    deployment_id = section[mapping_key]["mmcloud_task"]
    deployment = section[deployments_key][deployment_id]
    service = kube_objects()["Service"]
    grpc_port = {p["name"]: p["port"] for p in service["spec"]["ports"]}["grpc"]
    name, namespace = service["metadata"]["name"], service["metadata"]["namespace"]
    assert deployment["endpoint"] == f"dns:///{name}.{namespace}.svc.cluster.local:{grpc_port}"
    assert deployment["insecure"] is True
    assert set(deployment["timeouts"]) <= {route.rpc for route in ROUTES}
    assert re.fullmatch(r"\d+s", deployment["defaultTimeout"])


def test_the_container_build_installs_the_gateway_extra_from_the_lock() -> None:
    text = (INFRA / "Containerfile").read_text()
    assert re.search(r"^FROM python:3\.12-slim AS build$", text, re.M)
    assert re.search(r"^FROM python:3\.12-slim$", text, re.M)
    assert "uv sync --frozen --no-dev --extra gateway" in text
    for copied in re.findall(r"^COPY (?!--from)(.+) \./", text, re.M):
        for path in copied.split():
            assert (REPO / path).exists(), path
    assert re.search(r"^USER 10001", text, re.M)
    assert re.search(r"^EXPOSE 8000 9090$", text, re.M)
    assert 'ENTRYPOINT ["mmcloud-gateway"]' in text
    assert importlib.util.find_spec("handler.gateway.healthcheck") is not None

    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["mmcloud-gateway"] == "handler.gateway.__main__:main"
    extra = " ".join(pyproject["project"]["optional-dependencies"]["gateway"])
    assert "grpcio" in extra and "grpcio-health-checking" in extra and "prometheus-client" in extra


def test_the_container_build_copies_everything_the_wheel_is_built_from() -> None:
    copied: set[str] = set()
    text = (INFRA / "Containerfile").read_text()
    for sources in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.M):
        copied.update(source.rstrip("/") for source in sources.split())
    wheel = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["hatch"]["build"]
    wheel = wheel["targets"]["wheel"]
    needed = {*wheel["packages"], *wheel.get("force-include", {}), "pyproject.toml", "uv.lock"}
    assert needed <= copied, needed - copied
