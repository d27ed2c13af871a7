"""How the gateway fails: within the caller's deadline, with the right gRPC code, retrying only
what is safe to repeat. The API is a closed port or a scripted loopback server."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable

import grpc
import httpx
import pytest
from flyteidl.admin import agent_pb2
from flyteidl.core import execution_pb2
from gateway_helpers import InProcessGateway, Received, Reply, ScriptedHTTPServer, gateway_settings
from grpc_status import rpc_status

from demo.stack import free_port
from handler.gateway.calllog import LOGGER_NAME

Scripted = Callable[[Callable[[Received], Reply]], ScriptedHTTPServer]

CATEGORY = agent_pb2.TaskCategory(name="mmcloud_task")
META = b'{"job_id": "abcdefghij0123456789K"}'
GET = agent_pb2.GetTaskRequest(task_category=CATEGORY, resource_meta=META)
CREATE = agent_pb2.CreateTaskRequest(output_prefix="/tmp/out")
RUNNING = b'{"resource": {"phase": "RUNNING"}}'


def call_error(call: Callable[[], object]) -> tuple[grpc.RpcError, float]:
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value, time.monotonic() - started


def test_an_app_that_is_down_is_unavailable_within_the_deadline_after_retries() -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    with InProcessGateway(gateway_settings(closed, retries=20)) as gateway:
        error, elapsed = call_error(lambda: gateway.tasks.GetTask(GET, timeout=2.0))

        assert error.code() == grpc.StatusCode.UNAVAILABLE  # ours, not the caller's own timer
        assert "cannot reach the connector API" in error.details()
        assert elapsed < 2.5
        # GetTask is idempotent: it was retried, but never past the deadline.
        assert gateway.metric("mmcloud_gateway_upstream_retries_total", rpc="GetTask") >= 2


def test_create_task_is_never_retried() -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    with InProcessGateway(gateway_settings(closed, retries=5)) as gateway:
        error, elapsed = call_error(lambda: gateway.tasks.CreateTask(CREATE, timeout=2.0))

        assert error.code() == grpc.StatusCode.UNAVAILABLE
        assert elapsed < 1.0
        assert gateway.metric("mmcloud_gateway_upstream_retries_total", rpc="CreateTask") == 0


def test_503_is_retried_for_get_but_not_for_create(scripted: Scripted) -> None:
    answers = iter([Reply(status=503, chunks=[b'{"code": 14, "message": "busy"}'])])
    api = scripted(lambda _: next(answers, Reply(chunks=[RUNNING])))
    with InProcessGateway(gateway_settings(api.url)) as gateway:
        resource = gateway.tasks.GetTask(GET, timeout=5).resource  # from the 2nd attempt
        assert resource.phase == execution_pb2.TaskExecution.RUNNING
        assert [r.method for r in api.received] == ["GET", "GET"]

        api.respond = lambda _: Reply(status=503, chunks=[b'{"code": 14, "message": "busy"}'])
        error, _ = call_error(lambda: gateway.tasks.CreateTask(CREATE, timeout=5))
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        assert error.details() == "busy"
        assert [r.method for r in api.received] == ["GET", "GET", "POST"]  # one POST only


def test_a_request_with_an_empty_path_field_is_invalid_and_never_sent(scripted: Scripted) -> None:
    api = scripted(lambda _: Reply(chunks=[RUNNING]))
    with InProcessGateway(gateway_settings(api.url)) as gateway:
        empty = agent_pb2.GetTaskRequest(task_category=CATEGORY, resource_meta=b"")
        error, _ = call_error(lambda: gateway.tasks.GetTask(empty, timeout=5))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error.details().startswith("resource_meta: is empty")
        assert api.received == []


def test_a_slow_api_is_deadline_exceeded_at_the_callers_deadline(scripted: Scripted) -> None:
    api = scripted(lambda _: Reply(delay_before=3.0, chunks=[RUNNING]))
    with InProcessGateway(gateway_settings(api.url)) as gateway:
        started = time.monotonic()
        error, elapsed = call_error(lambda: gateway.tasks.GetTask(GET, timeout=1.0))
        while not api.hangups and time.monotonic() < started + 2.5:
            time.sleep(0.02)

    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # The gateway's own answer, sent before the caller's timer (which would also say
    # DEADLINE_EXCEEDED, as "Deadline Exceeded") ran out.
    assert re.fullmatch(
        r"GetTask: the connector API at 127\.0\.0\.1:\d+ did not answer within the "
        r"(1\.0|0\.9)s deadline",
        error.details(),
    ), error.details()
    assert elapsed < 1.5
    # It let go of the API at the deadline, while the gateway still ran, not at the API's delay.
    assert api.hangups and api.hangups[0] - started < 1.5
    assert len(api.received) == 1  # a timeout used the whole budget: nothing left to retry


def test_without_a_caller_deadline_the_default_deadline_bounds_the_call(
    scripted: Scripted,
) -> None:
    api = scripted(lambda _: Reply(delay_before=3.0, chunks=[RUNNING]))
    with InProcessGateway(gateway_settings(api.url, default_deadline_s=0.5)) as gateway:
        error, elapsed = call_error(lambda: gateway.tasks.GetTask(GET))  # no timeout

    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "0.5s deadline" in error.details()
    assert elapsed < 1.0


@pytest.mark.parametrize(
    ("status", "body", "code", "details"),
    [
        # The app's own Status body: passed through.
        (404, b'{"code": 5, "message": "MMCloud job X not found", "details": []}',
         grpc.StatusCode.NOT_FOUND, "MMCloud job X not found"),
        # Not a Status (a proxy or AWS in between): the explicit table decides, never gRPC's
        # default HTTP mapping (which reads 404 as UNIMPLEMENTED).
        (404, b"<html>Not Found</html>", grpc.StatusCode.NOT_FOUND,
         "HTTP 404 from the connector API: <html>Not Found</html>"),
        (403, b'{"Message": "Forbidden"}', grpc.StatusCode.PERMISSION_DENIED,
         "HTTP 403 from the connector API: Forbidden"),
        (501, b'{"code": 12, "message": "GetTaskMetrics is not implemented yet"}',
         grpc.StatusCode.UNIMPLEMENTED, "GetTaskMetrics is not implemented yet"),
        # A code the HTTP status would not carry is not trusted over the table.
        (500, b'{"code": 5, "message": "odd"}', grpc.StatusCode.INTERNAL, "odd"),
    ],
)  # fmt: skip
def test_http_errors_map_to_grpc_codes_by_the_table(
    scripted: Scripted, status: int, body: bytes, code: grpc.StatusCode, details: str
) -> None:
    api = scripted(lambda _: Reply(status=status, chunks=[body]))
    with InProcessGateway(gateway_settings(api.url)) as gateway:
        error, _ = call_error(lambda: gateway.tasks.GetTask(GET, timeout=5))

    assert (error.code(), error.details()) == (code, details)
    # The google.rpc.Status also travels as the standard trailer, readable with grpcio-status.
    status_message = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status_message is not None
    assert (status_message.code, status_message.message) == (code.value[0], details)


def test_prometheus_metrics_count_requests_failures_and_latency(scripted: Scripted) -> None:
    answers = iter([Reply(chunks=[RUNNING])])
    api = scripted(
        lambda _: next(answers, Reply(status=404, chunks=[b'{"code": 5, "message": ""}']))
    )
    port = free_port()
    with InProcessGateway(gateway_settings(api.url, metrics_port=port)) as gateway:
        gateway.tasks.GetTask(GET, timeout=5)
        call_error(lambda: gateway.tasks.GetTask(GET, timeout=5))  # now 404
        assert gateway.metric("mmcloud_gateway_in_flight", rpc="GetTask") == 0
        text = httpx.get(f"http://127.0.0.1:{port}/metrics").text

    labels = 'rpc="GetTask",task_type="mmcloud_task"'
    assert f"mmcloud_gateway_requests_total{{{labels}}} 2.0" in text
    assert 'mmcloud_gateway_failures_total{code="NOT_FOUND",' + labels + "} 1.0" in text
    assert f"mmcloud_gateway_request_duration_seconds_count{{{labels}}} 2.0" in text


def test_task_types_the_caller_makes_up_share_one_metric_label(
    scripted: Scripted, caplog: pytest.LogCaptureFixture
) -> None:
    api = scripted(lambda _: Reply(chunks=[RUNNING]))
    made_up = [f"made-up-{secrets.token_hex(8)}" for _ in range(40)]
    caplog.set_level("INFO", logger=LOGGER_NAME)
    with InProcessGateway(gateway_settings(api.url)) as gateway:
        for name in ["mmcloud_task", *made_up]:
            request = agent_pb2.GetTaskRequest(
                task_category=agent_pb2.TaskCategory(name=name), resource_meta=META
            )
            gateway.tasks.GetTask(request, timeout=5)
        gateway.metric("mmcloud_gateway_in_flight", rpc="GetTask")  # waits for the last record
        labelled = {
            sample.labels["task_type"]
            for family in gateway.gateway.metrics.registry.collect()
            for sample in family.samples
            if "task_type" in sample.labels
        }
        other = gateway.metric("mmcloud_gateway_requests_total", rpc="GetTask", task_type="other")

    assert labelled == {"mmcloud_task", "other"}
    assert other == len(made_up)
    logged = {getattr(record, "fields", {}).get("task_type") for record in caplog.records}
    assert set(made_up) <= logged  # the log line still names what the caller sent
