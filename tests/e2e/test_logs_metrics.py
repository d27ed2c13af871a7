"""GetTaskLogs, GetTaskMetrics and the richer GetTask, over HTTP against real emulator jobs."""

from __future__ import annotations

import itertools
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from flyteidl.admin import agent_pb2
from flyteidl.core.execution_pb2 import TaskExecution as P
from google.protobuf import json_format

from connector.logs import MAX_RESPONSE_BYTES
from connector.opcenter.wire import Job, job_path
from demo.propeller import ConnectorClient, run_task, start_task
from demo.stack import LocalStack
from examples import workflows
from handler.codec import encode_path_bytes, parse_stream

FAST = {"timeout": 90.0, "poll_interval": 0.2}


def logs(stack: LocalStack, meta: bytes, **params: Any) -> tuple[str, list[agent_pb2.LogLine]]:
    """(next token, all structured lines) of one GetTaskLogs call."""
    resp = httpx.get(
        f"{stack.app_url}/api/v1/agent/task/logs/mmcloud_task/0/{encode_path_bytes(meta)}",
        params=params,
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    items = parse_stream(resp.content)
    messages = [json_format.ParseDict(i["result"], agent_pb2.GetTaskLogsResponse()) for i in items]
    assert messages[0].HasField("header")
    lines = [line for m in messages[1:] for line in m.body.structured_lines]
    for m in messages[1:]:
        assert list(m.body.results) == [line.message for line in m.body.structured_lines]
    return messages[0].header.token, lines


def ticks(lines: list[agent_pb2.LogLine]) -> list[str]:
    return [
        ln.message
        for ln in lines
        if ln.originator == agent_pb2.USER and ln.message.startswith("tick ")
    ]


def metrics(stack: LocalStack, meta: bytes, **params: Any) -> httpx.Response:
    return httpx.get(
        f"{stack.app_url}/api/v1/agent/task/metrics/mmcloud_task/0/{encode_path_bytes(meta)}",
        params=params,
        timeout=30,
    )


def test_logs_of_a_finished_job_come_back_in_order_with_file_markers(
    stack: LocalStack, client: ConnectorClient, tmp_path: Path
) -> None:
    result = run_task(client, workflows.ticker, {"count": 40, "interval": 0.0}, tmp_path, **FAST)
    assert result.phase == "SUCCEEDED"

    _, lines = logs(stack, result.resource_meta)
    assert ticks(lines) == [f"tick {i:05d}" for i in range(40)]
    markers = [ln.message for ln in lines if ln.originator == agent_pb2.SYSTEM]
    assert markers == ["==> stdout.autosave <==", "==> stderr.autosave <=="]
    assert "ticker printed 40 lines" in [ln.message for ln in lines]

    _, last = logs(stack, result.resource_meta, lines=5)
    assert ticks(last) == [f"tick {i:05d}" for i in range(35, 40)]


def test_a_token_continues_after_the_previous_read_of_a_running_job(
    stack: LocalStack, client: ConnectorClient, tmp_path: Path
) -> None:
    started = start_task(client, workflows.ticker, {"count": 30, "interval": 0.1}, tmp_path)
    deadline = time.monotonic() + 60
    while not ticks(logs(stack, started.resource_meta)[1]):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    token, first = logs(stack, started.resource_meta)
    seen = ticks(first)
    assert 0 < len(seen) < 30  # read while the job was still printing

    while client.get_task(started.resource_meta, output_prefix="/o").phase != P.SUCCEEDED:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    token, page = logs(stack, started.resource_meta, token=token, lines=3)
    assert ticks(page) == [f"tick {i:05d}" for i in range(len(seen), len(seen) + 3)]
    _, rest = logs(stack, started.resource_meta, token=token)
    assert seen + ticks(page) + ticks(rest) == [f"tick {i:05d}" for i in range(30)]


def test_a_large_output_is_paged_under_the_size_bound(
    stack: LocalStack, client: ConnectorClient, tmp_path: Path
) -> None:
    count = 250_000  # ~2.75 MB of stdout
    result = run_task(client, workflows.ticker, {"count": count, "interval": 0.0}, tmp_path, **FAST)
    assert result.phase == "SUCCEEDED"
    got: list[str] = []
    token, calls = "", 0
    while True:
        resp = httpx.get(
            f"{stack.app_url}/api/v1/agent/task/logs/mmcloud_task/0/"
            f"{encode_path_bytes(result.resource_meta)}",
            params={"token": token} if token else {},
            timeout=30,
        )
        assert len(resp.content) <= MAX_RESPONSE_BYTES + 1000  # far under Lambda's 6 MB
        items = [
            json_format.ParseDict(i["result"], agent_pb2.GetTaskLogsResponse())
            for i in parse_stream(resp.content)
        ]
        lines = [ln for m in items[1:] for ln in m.body.structured_lines]
        calls += 1
        if not ticks(lines):
            break
        got += ticks(lines)
        token = items[0].header.token
    assert got == [f"tick {i:05d}" for i in range(count)]
    assert calls >= 3  # it really took several pages


def test_metrics_of_a_job_that_burned_cpu(
    stack: LocalStack, client: ConnectorClient, opcenter: httpx.Client, tmp_path: Path
) -> None:
    result = run_task(client, workflows.burn, {"seconds": 2.0, "mebibytes": 64}, tmp_path, **FAST)
    assert result.phase == "SUCCEEDED"
    resp = metrics(stack, result.resource_meta)
    assert resp.status_code == 200, resp.text
    found = json_format.ParseDict(resp.json(), agent_pb2.GetTaskMetricsResponse())
    by_name = {r.metric: json_format.MessageToDict(r.data) for r in found.results}
    assert set(by_name) >= {
        "EXECUTION_METRIC_USED_CPU_AVG",
        "EXECUTION_METRIC_USED_MEMORY_BYTES_AVG",
    }

    job = opcenter.get(job_path(json.loads(result.resource_meta)["job_id"])).json()
    window = (iso(job[Job.EXEC_TIME]) - 1, iso(job[Job.END_TIME]) + 1)
    cpu = by_name["EXECUTION_METRIC_USED_CPU_AVG"]
    assert cpu["resultType"] == "matrix"
    cpu_values = [(t, float(v)) for t, v in cpu["result"][0]["values"]]
    assert cpu_values and max(v for _, v in cpu_values) > 0.3  # cores
    assert all(window[0] <= t <= window[1] for t, _ in cpu_values)
    mem = [
        float(v)
        for _, v in by_name["EXECUTION_METRIC_USED_MEMORY_BYTES_AVG"]["result"][0]["values"]
    ]
    assert max(mem) > 64 * 1024 * 1024
    cost = by_name["MMCLOUD_COST"]["result"][0]
    assert cost["metric"]["currency"] == "USD" and len(cost["values"]) == 1

    one = metrics(stack, result.resource_meta, queries="EXECUTION_METRIC_USED_CPU_AVG", step="1s")
    stepped = json_format.ParseDict(one.json(), agent_pb2.GetTaskMetricsResponse())
    assert [r.metric for r in stepped.results] == ["EXECUTION_METRIC_USED_CPU_AVG"]
    points = json_format.MessageToDict(stepped.results[0].data)["result"][0]["values"]
    assert 1 <= len(points) <= len(cpu_values)
    times = [t for t, _ in points]
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(times))


def iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda s, m: metrics(s, m, queries="EXECUTION_METRIC_TEMPERATURE"), "queries"),
        (lambda s, m: metrics(s, m, step="-5s"), "step"),
        (
            lambda s, m: httpx.get(
                f"{s.app_url}/api/v1/agent/task/logs/mmcloud_task/0/{encode_path_bytes(m)}",
                params={"token": "not-a-token"},
            ),
            "token",
        ),
    ],
)
def test_bad_queries_and_tokens_are_invalid_argument_naming_the_field(
    stack: LocalStack, call, field: str
) -> None:
    meta = b'{"job_id": "nosuchjob000000000000"}'  # checked before OpCenter is asked
    resp = call(stack, meta)
    assert resp.status_code == 400, resp.text
    body = resp.json()
    status = body.get("error", body)  # a stream wraps its Status in "error"
    assert status["code"] == 3
    assert status["message"].startswith(f"{field}:")


def test_get_task_links_to_the_console_and_reports_job_facts(
    stack: LocalStack, client: ConnectorClient, tmp_path: Path
) -> None:
    result = run_task(client, workflows.word_stats, {"text": "a b"}, tmp_path, **FAST)
    resource = client.get_task(result.resource_meta, output_prefix="/o")
    job_id = json.loads(result.resource_meta)["job_id"]
    assert [link.uri for link in resource.log_links] == [f"{stack.emulator_url}/#/jobs/{job_id}"]
    info = json_format.MessageToDict(resource.custom_info)
    assert info["jobId"] == job_id
    assert info["status"] == "Completed"
    assert info["host"] == "127.0.0.1"
    assert info["cost"]["currency"] == "USD" and info["cost"]["amount"] >= 0
    assert info["coreHours"] >= 0
