"""lambda_handler in-process with the committed `sam local generate-event` HTTP API v2 events."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from flyteidl.admin import agent_pb2
from flyteidl.core.execution_pb2 import TaskExecution as P
from google.protobuf import json_format

import handler.app
from connector.config import Settings
from connector.opcenter.wire import LOGIN_PATH, TOKEN_HEADER, job_path
from connector.service import build_operations
from demo.constants import CREDENTIALS_SECRET_NAME, TOKEN_SECRET_NAME
from demo.propeller import prepare_execution, read_literal_map
from demo.stack import LocalStack, app_environment
from examples import workflows
from handler.codec import parse_stream

EVENTS = Path(__file__).resolve().parents[2] / "infra" / "events"
PLACEHOLDER_META = base64.urlsafe_b64encode(b'{"job_id": "REPLACEWITHAREALJOBID"}').decode()


class Context:
    """The bits of a Lambda context Mangum may read."""

    aws_request_id = "test-request"
    function_name = "mmcloud-connector"


@pytest.fixture
def lambda_env(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The app module wired to the stack's moto and emulator, as a deployed Lambda would be."""
    for key, value in app_environment(stack.moto_url).items():
        if key.startswith(("AWS_", "MMC_")):
            monkeypatch.setenv(key, value)
    settings = Settings(credentials_secret=CREDENTIALS_SECRET_NAME, token_secret=TOKEN_SECRET_NAME)
    monkeypatch.setattr(handler.app, "operations", build_operations(settings))
    # A Lambda process has one event loop that Mangum reuses; pytest-asyncio may have closed ours.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    loop.close()
    asyncio.set_event_loop(None)


def event(name: str, **changes: Any) -> dict[str, Any]:
    ev = json.loads((EVENTS / f"{name}.json").read_text())
    if "meta" in changes:
        path = ev["rawPath"].replace(PLACEHOLDER_META, changes["meta"])
        ev["rawPath"] = ev["requestContext"]["http"]["path"] = path
    if "body" in changes:
        ev["body"] = base64.b64encode(changes["body"].encode()).decode()
    return ev


def invoke(ev: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = handler.app.lambda_handler(ev, Context())
    return response["statusCode"], json.loads(response["body"])


def invoke_stream(ev: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    response = handler.app.lambda_handler(ev, Context())
    body = response["body"]
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return response["statusCode"], parse_stream(body.encode())


def test_events_are_http_api_v2_events_for_our_routes() -> None:
    for name in (
        "list_agents",
        "get_agent",
        "create_task",
        "get_task",
        "delete_task",
        "get_task_logs",
        "get_task_metrics",
    ):
        ev = event(name)
        assert ev["version"] == "2.0"
        assert ev["rawPath"].startswith("/api/v1/agent")


def test_list_and_get_agent(lambda_env: None) -> None:
    status, body = invoke(event("list_agents"))
    assert status == 200
    assert body["agents"][0]["supportedTaskCategories"] == [{"name": "mmcloud_task"}]
    status, body = invoke(event("get_agent"))
    assert (status, body["agent"]["name"]) == (200, "MMCloud Connector")


def test_create_poll_and_delete_through_the_handler(lambda_env: None, stack: LocalStack) -> None:
    prepared = prepare_execution(workflows.word_stats, {"text": "x y x"}, stack.blob_dir)
    status, body = invoke(
        event("create_task", body=json_format.MessageToJson(prepared.create_request()))
    )
    assert status == 200, body
    meta = base64.b64decode(body["resourceMeta"])
    path_meta = base64.urlsafe_b64encode(meta).decode().rstrip("=")  # unpadded works too

    deadline = time.monotonic() + 60
    while True:
        status, body = invoke(event("get_task", meta=path_meta))
        assert status == 200, body
        resource = json_format.ParseDict(body["resource"], agent_pb2.Resource())
        if resource.phase == P.SUCCEEDED:
            break
        assert resource.phase in {P.QUEUED, P.INITIALIZING, P.RUNNING}, resource
        assert time.monotonic() < deadline
        time.sleep(0.2)
    outputs = read_literal_map(prepared.paths.outputs)
    assert outputs.literals["unique"].scalar.primitive.integer == 2

    status, items = invoke_stream(event("get_task_logs", meta=path_meta))
    assert status == 200 and "header" in items[0]["result"]
    status, body = invoke(event("get_task_metrics", meta=path_meta))
    assert status == 200, body
    assert [r["metric"] for r in body["results"]] == ["EXECUTION_METRIC_USED_CPU_AVG"]

    status, body = invoke(event("delete_task", meta=path_meta))  # finished: still succeeds
    assert (status, body) == (200, {})


def test_the_committed_create_event_submits_its_real_task_as_is(
    lambda_env: None, stack: LocalStack
) -> None:
    """``sam local invoke -e infra/events/create_task.json`` must submit a job, not a 400."""
    ev = event("create_task")
    request = json_format.Parse(base64.b64decode(ev["body"]), agent_pb2.CreateTaskRequest())
    assert request.template.container.args[0] == "pyflyte-execute"
    assert not {e.key for e in request.template.container.env} & {"PATH", "PYTHONPATH"}

    status, body = invoke(ev)

    assert status == 200, body
    meta = json.loads(base64.b64decode(body["resourceMeta"]))
    with httpx.Client(base_url=stack.emulator_url) as opcenter:
        token = opcenter.get(LOGIN_PATH, auth=(stack.username, stack.password)).headers[
            TOKEN_HEADER
        ]
        job = opcenter.get(job_path(meta["job_id"]), headers={TOKEN_HEADER: token}).json()
    assert job["customTags"]["flyte-task"] == "examples.workflows.word_stats"


def test_an_unknown_job_is_not_found_through_the_handler(lambda_env: None) -> None:
    status, body = invoke(event("get_task"))  # the committed placeholder job id
    assert status == 404
    assert body["code"] == 5 and "REPLACEWITHAREALJOBID" in body["message"]


def test_the_lambda_path_never_imports_flytekit() -> None:
    probe = (
        "import sys, handler.app\n"
        "bad = [m for m in sys.modules if m.startswith('flytekit')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", probe], check=True)
