"""Logs, metrics and correlation of the Lambda function (handler/observability.py).

Inside Lambda it is judged from a process of its own with a Lambda environment (observability is
decided at import), invoking the committed events against the test stack's emulator and moto.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from deploy_helpers import ROOT, ProbeRun, lambda_environment, run_probe

from connector import telemetry
from demo.constants import TOKEN_SECRET_NAME
from demo.stack import LocalStack
from handler.observability import correlation_id_of, failure_code


@pytest.fixture(scope="module")
def probe_run(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> ProbeRun:
    out = tmp_path_factory.mktemp("observability") / "probe.json"
    # No shared token yet, whatever ran before: this fresh instance must log in (and count it).
    stack.secrets_client().put_secret_value(SecretId=TOKEN_SECRET_NAME, SecretString="{}")
    env = lambda_environment(stack.moto_url)
    return run_probe(
        [sys.executable], env, out, paths=[str(ROOT)], correlation_id="corr-123", cwd=ROOT
    )


def test_responses_carry_the_correlation_id(probe_run: ProbeRun) -> None:
    calls = probe_run.result["calls"]
    assert [c["status"] for c in calls] == [200, 200, 404]
    assert json.loads(calls[2]["body"])["code"] == 5  # google.rpc.Status NOT_FOUND
    assert {c["headers"]["x-correlation-id"] for c in calls} == {"corr-123"}


def test_logs_are_json_with_correlation_cold_start_and_request_id(probe_run: ProbeRun) -> None:
    logs = probe_run.logs()
    requests = [line for line in logs if "rpc" in line]
    assert [(r["rpc"], r["status"], r.get("code")) for r in requests] == [
        ("ListAgents", 200, None),
        ("GetAgent", 200, None),
        ("GetTask", 404, "NOT_FOUND"),
    ]
    assert all(line["correlation_id"] == "corr-123" for line in logs)
    assert all(line["service"] == "mmcloud-connector" for line in logs)
    assert [r["cold_start"] for r in requests] == [True, False, False]
    assert [r["function_request_id"] for r in requests] == [
        "probe-request-0",
        "probe-request-1",
        "probe-request-2",
    ]
    assert any(line["location"].startswith("_log_in") for line in logs)  # connector's logger too


def test_metrics_in_emf(probe_run: ProbeRun) -> None:
    metrics = probe_run.metrics()
    assert sum(value for _, value in metrics["Requests"]) == 3
    assert sum(value for _, value in metrics["ColdStart"]) == 1
    assert sum(value for _, value in metrics["OpCenterLogins"]) == 1  # the GetTask logged in
    latencies = [value for _, value in metrics["OpCenterLatency"]]
    assert len(latencies) == 2 and all(v > 0 for v in latencies)  # the login and the show
    assert metrics["Failures"] == [({"service": "mmcloud-connector", "code": "NOT_FOUND"}, 1.0)]
    assert "OpCenterLoginsRejected" not in metrics


def test_no_secret_in_any_output(probe_run: ProbeRun, stack: LocalStack) -> None:
    assert stack.password
    assert stack.password not in probe_run.stdout + probe_run.stderr
    token = json.loads(
        stack.secrets_client().get_secret_value(
            SecretId=TOKEN_SECRET_NAME, VersionStage="AWSCURRENT"
        )["SecretString"]
    ).get("token")
    assert token and token not in probe_run.stdout + probe_run.stderr


def test_the_api_request_id_is_the_correlation_id_by_default(
    stack: LocalStack, tmp_path: Path
) -> None:
    run = run_probe(
        [sys.executable], lambda_environment(stack.moto_url), tmp_path / "p.json",
        paths=[str(ROOT)], cwd=ROOT,
    )  # fmt: skip
    assert {line["correlation_id"] for line in run.logs()} == {"id"}  # the events' requestId


def test_outside_lambda_powertools_is_never_imported() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_LAMBDA")}
    probe = (
        "import sys, handler.app, handler.observability as o\n"
        "assert o.powertools is None\n"
        "assert not [m for m in sys.modules if m.startswith('aws_lambda_powertools')]\n"
    )
    subprocess.run([sys.executable, "-c", probe], check=True, cwd=ROOT, env=env)


def test_failure_code_reads_the_status_body() -> None:
    assert failure_code(404, b'{"code": 5, "message": "x", "details": []}') == "NOT_FOUND"
    assert failure_code(404, b'{"error":{"code":5,"message":"x","details":[]}}\n') == "NOT_FOUND"
    assert failure_code(502, b"<html>bad gateway</html>") == "HTTP_502"
    assert failure_code(500, b"") == "HTTP_500"


def test_correlation_id_prefers_the_callers_header() -> None:
    event = {"requestContext": {"requestId": "api-req"}}
    assert correlation_id_of({"headers": [], "aws.event": event}) == "api-req"
    scope = {"headers": [(b"x-correlation-id", b"mine")], "aws.event": event}
    assert correlation_id_of(scope) == "mine"
    assert correlation_id_of({"headers": []}) is None


def test_a_failing_sink_never_fails_the_connector() -> None:
    class Broken:
        def opcenter_call(self, method: str, seconds: float, status: int | None) -> None:
            raise RuntimeError("metrics backend down")

        def opcenter_login(self, accepted: bool) -> None:
            raise RuntimeError("metrics backend down")

    telemetry.set_sink(Broken())
    try:
        telemetry.opcenter_call("GET", 0.1, 200)
        telemetry.opcenter_login(accepted=True)
    finally:
        telemetry.set_sink(None)
