"""Through the gateway, every RPC answers what the app answers over HTTP.

The gateway here is the stack's own (``python -m handler.gateway --unsigned`` in front of the
uvicorn app, as ``make run`` starts it), called with flyteidl's generated stubs. Each answer is
compared with the app's HTTP answer to the same request: the same message, or the same gRPC code
and message. Nothing here knows what the app returns for an RPC, so GetTaskLogs/GetTaskMetrics
are compared the same way whether the app implements them or answers UNIMPLEMENTED.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from flyteidl.admin import agent_pb2
from flyteidl.core import execution_pb2
from flyteidl.service import agent_pb2_grpc
from google.protobuf import duration_pb2, timestamp_pb2
from google.protobuf.message import Message

from connector.errors import Code
from connector.opcenter.wire import LOGIN_PATH, TOKEN_HEADER, job_path
from demo.constants import TASK_TYPE, TASK_TYPE_VERSION
from demo.propeller import prepare_execution
from demo.stack import LocalStack
from examples.workflows import word_stats
from handler.agents import AGENT_NAME
from handler.codec import HTTP_STATUS_BY_CODE, http_from_request, to_json
from handler.routes import BY_RPC

CATEGORY = agent_pb2.TaskCategory(name=TASK_TYPE, version=TASK_TYPE_VERSION)
UNKNOWN_JOB_META = b'{"job_id": "nosuchjob000000000000"}'
METADATA_RPCS = {"GetAgent", "ListAgents"}


@dataclass(frozen=True)
class Answer:
    """An RPC's outcome, transport-neutral: code 0 and the message(s) as JSON, or an error."""

    code: int
    body: Any  # JSON of the response (a list of them for a stream), or the error message


def over_http(app_url: str, rpc: str, request: Message) -> Answer:
    route = BY_RPC[rpc]
    path, query, body = http_from_request(route, request)
    response = httpx.request(route.method, app_url + path, params=query, json=body, timeout=15.0)
    if response.status_code < 300:
        if route.streaming:
            lines = [json.loads(line) for line in response.text.splitlines() if line.strip()]
            return Answer(0, [line["result"] for line in lines])
        return Answer(0, response.json())
    status = response.json()
    status = status.get("error", status)  # a stream that failed before its first message
    assert HTTP_STATUS_BY_CODE[Code(status["code"])] == response.status_code, status
    return Answer(status["code"], status["message"])


def over_grpc(channel: grpc.Channel, rpc: str, request: Message) -> Answer:
    stub: Any = (
        agent_pb2_grpc.AgentMetadataServiceStub(channel)
        if rpc in METADATA_RPCS
        else agent_pb2_grpc.AsyncAgentServiceStub(channel)
    )
    method = getattr(stub, rpc)
    try:
        if BY_RPC[rpc].streaming:
            return Answer(0, [to_json(m) for m in method(request, timeout=15.0)])
        return Answer(0, to_json(method(request, timeout=15.0)))
    except grpc.RpcError as exc:
        return Answer(exc.code().value[0], exc.details())


@pytest.fixture(scope="module")
def channel(stack: LocalStack) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(stack.gateway_address) as ch:
        yield ch


def job_id(resource_meta: bytes) -> str:
    return str(json.loads(resource_meta)["job_id"])


def opcenter_status(stack: LocalStack, job: str) -> str:
    login = httpx.get(stack.emulator_url + LOGIN_PATH, auth=(stack.username, stack.password))
    record = httpx.get(
        stack.emulator_url + job_path(job), headers={TOKEN_HEADER: login.headers[TOKEN_HEADER]}
    )
    record.raise_for_status()
    return str(record.json()["status"])


@pytest.fixture(scope="module")
def finished_job(
    stack: LocalStack, channel: grpc.Channel, tmp_path_factory: pytest.TempPathFactory
) -> bytes:
    """A word_stats job created and followed to SUCCEEDED through the gateway."""
    execution = prepare_execution(word_stats, {"text": "a b a"}, tmp_path_factory.mktemp("blobs"))
    tasks = agent_pb2_grpc.AsyncAgentServiceStub(channel)
    meta = tasks.CreateTask(execution.create_request(), timeout=15.0).resource_meta
    deadline = time.monotonic() + 60
    request = agent_pb2.GetTaskRequest(
        task_category=CATEGORY,
        resource_meta=meta,
        output_prefix=str(execution.paths.output_prefix),
    )
    while (phase := tasks.GetTask(request, timeout=15.0).resource.phase) not in (
        execution_pb2.TaskExecution.SUCCEEDED,
        execution_pb2.TaskExecution.FAILED,
    ):
        assert time.monotonic() < deadline, "word_stats did not finish in 60 s"
        time.sleep(0.2)
    assert phase == execution_pb2.TaskExecution.SUCCEEDED
    return bytes(meta)


def requests_about(meta: bytes) -> dict[str, Message]:
    now = int(time.time())
    return {
        "GetTask": agent_pb2.GetTaskRequest(
            task_category=CATEGORY, resource_meta=meta, output_prefix="/tmp/unused"
        ),
        "DeleteTask": agent_pb2.DeleteTaskRequest(task_category=CATEGORY, resource_meta=meta),
        "GetTaskMetrics": agent_pb2.GetTaskMetricsRequest(
            task_category=CATEGORY,
            resource_meta=meta,
            queries=["EXECUTION_METRIC_USED_CPU_AVG", "EXECUTION_METRIC_USED_MEMORY_BYTES_AVG"],
            start_time=timestamp_pb2.Timestamp(seconds=now - 600),
            end_time=timestamp_pb2.Timestamp(seconds=now + 60),
            step=duration_pb2.Duration(seconds=10),
        ),
        "GetTaskLogs": agent_pb2.GetTaskLogsRequest(
            task_category=CATEGORY, resource_meta=meta, lines=100
        ),
    }


def test_list_agents_and_get_agent_answer_as_the_app_does(
    stack: LocalStack, channel: grpc.Channel
) -> None:
    calls: list[tuple[str, Message]] = [
        ("ListAgents", agent_pb2.ListAgentsRequest()),
        ("GetAgent", agent_pb2.GetAgentRequest(name=AGENT_NAME)),
        ("GetAgent", agent_pb2.GetAgentRequest(name="no such agent")),
    ]
    for rpc, request in calls:
        assert over_grpc(channel, rpc, request) == over_http(stack.app_url, rpc, request), rpc

    assert over_grpc(channel, *calls[0]).body["agents"][0]["supportedTaskCategories"] == [
        {"name": TASK_TYPE}
    ]
    assert over_grpc(channel, *calls[2]).code == Code.NOT_FOUND


@pytest.mark.parametrize("rpc", ["GetTask", "DeleteTask", "GetTaskMetrics", "GetTaskLogs"])
def test_task_calls_on_a_finished_job_answer_as_the_app_does(
    stack: LocalStack, channel: grpc.Channel, finished_job: bytes, rpc: str
) -> None:
    request = requests_about(finished_job)[rpc]

    through_gateway = over_grpc(channel, rpc, request)
    direct = over_http(stack.app_url, rpc, request)

    assert through_gateway == direct
    if rpc == "GetTask":
        assert through_gateway.body["resource"]["phase"] == "SUCCEEDED"
    if rpc == "GetTaskLogs" and direct.code == Code.OK:
        assert through_gateway.body, "the app sent log messages; the gRPC client must get them"


@pytest.mark.parametrize("rpc", ["GetTask", "GetTaskMetrics", "GetTaskLogs"])
def test_an_unknown_job_is_not_found_through_the_gateway_as_over_http(
    stack: LocalStack, channel: grpc.Channel, rpc: str
) -> None:
    request = requests_about(UNKNOWN_JOB_META)[rpc]

    through_gateway = over_grpc(channel, rpc, request)

    assert through_gateway == over_http(stack.app_url, rpc, request)
    if rpc == "GetTask":  # the app's 404 must not become gRPC's default UNIMPLEMENTED
        assert through_gateway.code == Code.NOT_FOUND
        assert "nosuchjob000000000000" in through_gateway.body


def test_delete_of_an_unknown_job_succeeds_through_the_gateway(
    stack: LocalStack, channel: grpc.Channel
) -> None:
    request = requests_about(UNKNOWN_JOB_META)["DeleteTask"]
    assert over_grpc(channel, "DeleteTask", request) == over_http(
        stack.app_url, "DeleteTask", request
    ) == Answer(0, {})  # fmt: skip


def test_create_task_gives_the_same_kind_of_resource_meta_both_ways(
    stack: LocalStack, channel: grpc.Channel, tmp_path: Path
) -> None:
    # Two creates make two jobs, so compare the shape: a resource_meta naming a real job.
    def request(text: str) -> Message:
        return prepare_execution(word_stats, {"text": text}, tmp_path).create_request()

    answers = [
        over_grpc(channel, "CreateTask", request("via the gateway")),
        over_http(stack.app_url, "CreateTask", request("straight to the app")),
    ]

    metas = []
    for answer in answers:
        assert answer.code == 0, answer
        assert set(answer.body) == {"resourceMeta"}
        metas.append(base64.b64decode(answer.body["resourceMeta"]))
    for meta in metas:
        assert set(json.loads(meta)) == {"job_id"}
        assert opcenter_status(stack, job_id(meta)) in {
            "Submitted", "Initializing", "Starting", "Executing", "Completed",
        }  # fmt: skip
    assert job_id(metas[0]) != job_id(metas[1])
    tasks = agent_pb2_grpc.AsyncAgentServiceStub(channel)
    for meta in metas:  # leave no job running behind
        tasks.DeleteTask(
            agent_pb2.DeleteTaskRequest(task_category=CATEGORY, resource_meta=meta), timeout=15.0
        )
