"""``python -m handler.gateway`` as Kubernetes runs it: ready by its health service, and on
SIGTERM it lets the call in flight finish, then exits 0."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
from flyteidl.admin import agent_pb2
from flyteidl.core import execution_pb2
from flyteidl.service import agent_pb2_grpc
from gateway_helpers import Received, Reply, ScriptedHTTPServer

from demo.stack import REPO_ROOT, free_port
from handler.gateway import healthcheck

Scripted = Callable[[Callable[[Received], Reply]], ScriptedHTTPServer]

GET = agent_pb2.GetTaskRequest(
    task_category=agent_pb2.TaskCategory(name="mmcloud_task"), resource_meta=b"{}"
)


def test_sigterm_drains_the_call_in_flight_then_exits_cleanly(
    scripted: Scripted, tmp_path: Path
) -> None:
    api = scripted(
        lambda _: Reply(delay_before=1.0, chunks=[b'{"resource": {"phase": "RUNNING"}}'])
    )
    port = free_port()
    address = f"127.0.0.1:{port}"
    log = tmp_path / "gateway.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "handler.gateway", "--target-url", api.url, "--unsigned",
             "--host", "127.0.0.1", "--port", str(port), "--metrics-port", "0",
             "--shutdown-grace", "5"],
            cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while healthcheck.main(["--address", address, "--timeout", "0.5"]) != 0:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)

        with grpc.insecure_channel(address) as channel, ThreadPoolExecutor(1) as pool:
            stub = agent_pb2_grpc.AsyncAgentServiceStub(channel)
            in_flight = pool.submit(stub.GetTask, GET, timeout=10)
            while not api.received:  # the call has reached the API
                time.sleep(0.02)
            process.send_signal(signal.SIGTERM)

            assert in_flight.result().resource.phase == execution_pb2.TaskExecution.RUNNING
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    text = log.read_text()
    for event in ("event=listening", "event=signalled", "event=draining", "event=stopped"):
        assert event in text
    assert "rpc=GetTask task_type=mmcloud_task code=OK" in text
    assert healthcheck.main(["--address", address, "--timeout", "0.5"]) == 1  # gone
