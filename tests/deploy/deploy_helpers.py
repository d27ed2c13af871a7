"""Helpers of the deployment tests: the SAM template transformed and resolved, and the probe."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import platform
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

from demo.stack import app_environment

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
EVENTS = ROOT / "infra" / "events"
PROBE = Path(__file__).resolve().parent / "lambda_probe.py"
FAKE_AWS = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}

_REMOVED = object()


def load_template() -> dict[str, Any]:
    result: dict[str, Any] = yaml_parse(TEMPLATE.read_text())
    return result


@contextlib.contextmanager
def fake_aws_environment() -> Iterator[None]:
    """The translator asks boto3 for a region (the partition); give it one, and no real keys."""
    saved = {key: os.environ.get(key) for key in FAKE_AWS}
    os.environ.update(FAKE_AWS)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class _NoManagedPolicies:
    """The translator's managed-policy lookup: this template names none, so nothing to load."""

    def load(self) -> dict[str, str]:
        return {}


def transform_template() -> dict[str, Any]:
    """template.yaml as CloudFormation, as `sam deploy` would send it (code in S3)."""
    template = load_template()
    template["Resources"]["ConnectorFunction"]["Properties"]["CodeUri"] = "s3://bucket/code.zip"
    with fake_aws_environment():
        result: dict[str, Any] = transform(template, {}, _NoManagedPolicies())
    return result


def resolve(template: Mapping[str, Any], **overrides: str) -> dict[str, Any]:
    """The transformed template for these parameter values: conditions evaluated, resources
    whose condition is false dropped, ``Fn::If`` chosen and ``Ref`` of a parameter replaced.
    Other intrinsics (``Ref`` of a resource, ``Fn::Sub``, ``Fn::GetAtt``) stay as they are."""
    params = {name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()}
    unknown = set(overrides) - set(params)
    assert not unknown, f"no such parameters: {unknown}"
    params.update(overrides)
    conditions: dict[str, bool] = {}

    def condition(name: str) -> bool:
        if name not in conditions:
            conditions[name] = bool(evaluate(template["Conditions"][name]))
        return conditions[name]

    def evaluate(node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (evaluate(item) for item in node) if v is not _REMOVED]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref" and arg == "AWS::NoValue":
                return _REMOVED
            if key == "Ref" and arg in params:
                return params[arg]
            if key == "Fn::Equals":
                left, right = (evaluate(a) for a in arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not evaluate(arg[0])
            if key == "Fn::And":
                return all(evaluate(a) for a in arg)
            if key == "Fn::Or":
                return any(evaluate(a) for a in arg)
            if key == "Condition":
                return condition(arg)
            if key == "Fn::If":
                return evaluate(arg[1] if condition(arg[0]) else arg[2])
        out = {}
        for key, value in node.items():
            resolved = evaluate(value)
            if resolved is not _REMOVED:
                out[key] = resolved
        return out

    resources = {
        name: evaluate(copy.deepcopy(resource))
        for name, resource in template["Resources"].items()
        if "Condition" not in resource or condition(resource["Condition"])
    }
    outputs = {
        name: evaluate(copy.deepcopy(output))
        for name, output in template.get("Outputs", {}).items()
        if "Condition" not in output or condition(output["Condition"])
    }
    return {"Resources": resources, "Outputs": outputs, "Parameters": params}


def of_type(resolved: Mapping[str, Any], kind: str) -> dict[str, Any]:
    return {n: r for n, r in resolved["Resources"].items() if r["Type"] == kind}


def policy_statements(resource: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every statement of the inline policies of a role, or of a managed policy."""
    props = resource["Properties"]
    docs = [p["PolicyDocument"] for p in props.get("Policies", [])]
    if "PolicyDocument" in props:
        docs.append(props["PolicyDocument"])
    return [statement for doc in docs for statement in doc["Statement"]]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def host_architecture() -> str:
    """The template's Architecture value this machine can import wheels of."""
    return {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[
        platform.machine().lower()
    ]


def template_environment() -> dict[str, str]:
    """The function's environment from template.yaml, parameters at their defaults (values that
    need a deployed resource, such as the secrets' ARNs, are left out)."""
    template = load_template()
    params = {k: str(v.get("Default", "")) for k, v in template["Parameters"].items()}
    variables = template["Resources"]["ConnectorFunction"]["Properties"]["Environment"]["Variables"]
    env = {}
    for name, value in variables.items():
        if isinstance(value, str):
            env[name] = value
        elif isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in params:
            env[name] = params[value["Ref"]]
    return env


def lambda_environment(moto_url: str, **extra: str) -> dict[str, str]:
    """What the function sees in Lambda, pointed at the test stack's moto (and so its emulator)."""
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    env = {**base, **template_environment()}
    env.update(app_environment(moto_url, base=base))  # secrets names and the moto endpoint
    env.update({"AWS_LAMBDA_FUNCTION_NAME": "mmcloud-connector", "AWS_REGION": "us-east-1"})
    env.update(extra)
    return env


@dataclass(frozen=True)
class Build:
    """What the session's ``infra/build.py`` run produced (see conftest.py)."""

    work_dir: Path
    artifact: Path
    runtime_sdk: Path
    python: Path
    info: dict[str, object]
    log: str


@dataclass
class ProbeRun:
    result: dict[str, Any]
    stdout: str
    stderr: str

    def calls_to(self, fragment: str) -> list[dict[str, Any]]:
        return [c for c in self.result["calls"] if fragment in c["path"]]

    def json_lines(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.stdout.splitlines():
            with contextlib.suppress(ValueError):
                parsed = json.loads(line)
                if isinstance(parsed, dict):
                    lines.append(parsed)
        return lines

    def logs(self) -> list[dict[str, Any]]:
        return [line for line in self.json_lines() if "level" in line and "message" in line]

    def metrics(self) -> dict[str, list[tuple[dict[str, str], float]]]:
        """Metric name -> [(its dimensions, value)] from the EMF lines."""
        found: dict[str, list[tuple[dict[str, str], float]]] = {}
        for line in self.json_lines():
            for directive in line.get("_aws", {}).get("CloudWatchMetrics", []):
                dims = {d: line[d] for group in directive["Dimensions"] for d in group}
                for metric in directive["Metrics"]:
                    for value in as_list(line[metric["Name"]]):
                        found.setdefault(metric["Name"], []).append((dims, float(value)))
        return found


def run_probe(
    python: list[str],
    env: Mapping[str, str],
    out: Path,
    *,
    paths: list[str],
    create_body: Path | None = None,
    correlation_id: str = "",
    cwd: Path | None = None,
    timeout: float = 180,
) -> ProbeRun:
    cmd = [*python, str(PROBE), "--events", str(EVENTS), "--out", str(out)]
    for path in paths:
        cmd += ["--path", path]
    if create_body is not None:
        cmd += ["--create-body", str(create_body)]
    if correlation_id:
        cmd += ["--correlation-id", correlation_id]
    done = subprocess.run(
        cmd, env=dict(env), cwd=cwd or out.parent, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"probe failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return ProbeRun(json.loads(out.read_text()), done.stdout, done.stderr)
