"""GetTaskLogs is a real server stream: each NDJSON line the API sends reaches a gRPC client as its
own message, as it arrives, independent of what the app implements."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import grpc
from flyteidl.admin import agent_pb2
from gateway_helpers import (
    InProcessGateway,
    Received,
    Reply,
    ScriptedHTTPServer,
    gateway_settings,
)
from google.protobuf import json_format

from handler.gateway.calllog import LOGGER_NAME

Scripted = Callable[[Callable[[Received], Reply]], ScriptedHTTPServer]

META = b'{"job_id": "abcdefghij0123456789K"}'
REQUEST = agent_pb2.GetTaskLogsRequest(
    task_category=agent_pb2.TaskCategory(name="mmcloud_task"), resource_meta=META, lines=50
)
MESSAGES = [
    agent_pb2.GetTaskLogsResponse(header=agent_pb2.GetTaskLogsResponseHeader(token="next-1")),
    agent_pb2.GetTaskLogsResponse(body=agent_pb2.GetTaskLogsResponseBody(results=["one", "two"])),
    agent_pb2.GetTaskLogsResponse(body=agent_pb2.GetTaskLogsResponseBody(results=["three"])),
]


def ndjson(*items: dict[str, Any]) -> list[bytes]:
    return [json.dumps(item).encode() + b"\n" for item in items]


def results(*messages: agent_pb2.GetTaskLogsResponse) -> list[dict[str, Any]]:
    return [{"result": json_format.MessageToDict(m)} for m in messages]


def test_three_ndjson_lines_arrive_as_three_messages_each_as_it_comes(scripted: Scripted) -> None:
    api = scripted(
        lambda _: Reply(
            headers={"Content-Type": "application/x-ndjson"},
            chunks=ndjson(*results(*MESSAGES)),
            pause_between=0.4,
        )
    )
    with InProcessGateway(gateway_settings(api.url)) as gateway:
        received: list[tuple[float, agent_pb2.GetTaskLogsResponse]] = []
        for message in gateway.tasks.GetTaskLogs(REQUEST, timeout=10):
            received.append((time.monotonic(), message))

        assert [m for _, m in received] == MESSAGES
        # The first message was delivered while the API was still writing the rest.
        assert received[-1][0] - received[0][0] >= 0.6
        assert gateway.metric("mmcloud_gateway_requests_total", rpc="GetTaskLogs",
                              task_type="mmcloud_task") == 1  # fmt: skip

    (got,) = api.received
    assert got.method == "GET"
    assert got.target.startswith("/api/v1/agent/task/logs/mmcloud_task/0/")
    assert "lines=50" in got.target


def test_an_error_line_ends_the_stream_with_its_status_after_the_messages_before_it(
    scripted: Scripted,
) -> None:
    error = {"error": {"code": 5, "message": "MMCloud job went away", "details": []}}
    api = scripted(lambda _: Reply(chunks=ndjson(*results(MESSAGES[0]), error)))
    with InProcessGateway(gateway_settings(api.url)) as gateway:
        call = gateway.tasks.GetTaskLogs(REQUEST, timeout=10)
        first = next(call)
        try:
            next(call)
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.NOT_FOUND
            assert exc.details() == "MMCloud job went away"
        else:
            raise AssertionError("the stream should have ended with NOT_FOUND")

    assert first == MESSAGES[0]


def test_a_stream_refused_before_its_first_message_carries_the_apps_status(
    scripted: Scripted,
) -> None:
    # The app's shape: HTTP status of the code, body one {"error": Status} line.
    error = {"error": {"code": 9, "message": "no OpCenter credentials", "details": []}}
    api = scripted(lambda _: Reply(status=400, chunks=ndjson(error)))
    with InProcessGateway(gateway_settings(api.url)) as gateway:
        try:
            list(gateway.tasks.GetTaskLogs(REQUEST, timeout=10))
        except grpc.RpcError as exc:
            # 400 alone would read INVALID_ARGUMENT; the Status says which 400 it is.
            assert exc.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert exc.details() == "no OpCenter credentials"
        else:
            raise AssertionError("expected FAILED_PRECONDITION")


def test_each_call_is_logged_once_without_bodies(scripted: Scripted, caplog: Any) -> None:
    api = scripted(lambda _: Reply(chunks=ndjson(*results(*MESSAGES))))
    caplog.set_level("INFO", logger=LOGGER_NAME)
    with InProcessGateway(gateway_settings(api.url)) as gateway:
        assert len(list(gateway.tasks.GetTaskLogs(REQUEST, timeout=10))) == 3

    calls = [r for r in caplog.records if getattr(r, "fields", {}).get("event") == "call"]
    assert len(calls) == 1
    fields = calls[0].fields  # type: ignore[attr-defined]
    assert fields["rpc"] == "GetTaskLogs"
    assert fields["task_type"] == "mmcloud_task"
    assert fields["code"] == "OK"
    assert fields["messages"] == 3
    assert fields["duration_ms"] > 0
    text = caplog.text
    assert "abcdefghij0123456789K" not in text and "next-1" not in text and "three" not in text
