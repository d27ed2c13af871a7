"""``pyflyte serve connector`` serves our connector (found through the entry point alone) and runs
a real task to SUCCEEDED against the emulator, called as FlytePropeller calls it: gRPC stubs.

The server gets its OpCenter credentials the way a connector pod does: as Flyte secrets in
``_FSEC_MMC_*`` variables (flytekit's secrets manager), with no ``MMC_*`` variable set.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from flyteidl.admin import agent_pb2
from flyteidl.core.execution_pb2 import TaskExecution
from flyteidl.service.agent_pb2_grpc import AgentMetadataServiceStub, AsyncAgentServiceStub
from flytekit_helpers import BIN_DIR, REPO_ROOT, OpCenterView, child_env

from demo.propeller import collect_outputs, prepare_execution
from demo.stack import LocalStack, free_port
from examples.workflows import word_stats

PHASE = TaskExecution
CATEGORY = agent_pb2.TaskCategory(name="mmcloud_task", version=0)
FOX = "The quick brown fox jumps over the lazy dog"


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def served(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[grpc.Channel]:
    """``pyflyte serve connector`` on free ports; a gRPC channel to it once ListAgents answers."""
    port, prometheus_port = free_port(), free_port()
    log = tmp_path_factory.mktemp("serve") / "pyflyte-serve.log"
    env = child_env(
        {
            "_FSEC_MMC_ADDRESS": stack.emulator_url,
            "_FSEC_MMC_USERNAME": stack.username,
            "_FSEC_MMC_PASSWORD": stack.password,
        }
    )
    args = [str(BIN_DIR / "pyflyte"), "serve", "connector", "--port", str(port),
            "--prometheus_port", str(prometheus_port), "--worker", "4"]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            args, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"pyflyte serve connector exited early:\n{log.read_text()[-3000:]}")
            try:
                AgentMetadataServiceStub(channel).ListAgents(
                    agent_pb2.ListAgentsRequest(), timeout=2
                )
                break
            except grpc.RpcError:
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"pyflyte serve connector never answered:\n{log.read_text()[-3000:]}"
                    )
                time.sleep(0.3)
        yield channel
    finally:
        channel.close()
        _stop(process)
        assert stack.password not in log.read_text(errors="replace"), "password in server log"


def _wait_terminal(
    stub: AsyncAgentServiceStub, resource_meta: bytes, output_prefix: str, timeout: float = 90.0
) -> agent_pb2.Resource:
    deadline = time.monotonic() + timeout
    while True:
        resource = stub.GetTask(
            agent_pb2.GetTaskRequest(
                task_category=CATEGORY, resource_meta=resource_meta, output_prefix=output_prefix
            ),
            timeout=10,
        ).resource
        if resource.phase in (PHASE.SUCCEEDED, PHASE.FAILED, PHASE.ABORTED, PHASE.RETRYABLE_FAILED):
            return resource
        assert time.monotonic() < deadline, f"still {PHASE.Phase.Name(resource.phase)}"
        time.sleep(0.5)


def test_list_agents_names_mmcloud_task_once(served: grpc.Channel) -> None:
    agents = AgentMetadataServiceStub(served).ListAgents(agent_pb2.ListAgentsRequest()).agents
    mmcloud = [agent for agent in agents if "mmcloud_task" in agent.supported_task_types]

    assert [agent.name for agent in mmcloud] == ["MMCloud Connector"]
    # Upstream's plugin is installed too and registers the same name: listed once, not twice.
    assert list(mmcloud[0].supported_task_types) == ["mmcloud_task"]
    assert [(c.name, c.version) for c in mmcloud[0].supported_task_categories] == [
        ("mmcloud_task", 0)
    ]
    assert not mmcloud[0].is_sync


def test_an_upstream_task_runs_to_succeeded(
    served: grpc.Channel, tmp_path: Path, opcenter_view: OpCenterView
) -> None:
    stub = AsyncAgentServiceStub(served)
    execution = prepare_execution(word_stats, {"text": FOX}, tmp_path)

    created = stub.CreateTask(execution.create_request(), timeout=10)
    resource = _wait_terminal(stub, created.resource_meta, str(execution.paths.output_prefix))

    assert PHASE.Phase.Name(resource.phase) == "SUCCEEDED", resource.message
    outputs, error = collect_outputs(execution, resource)
    assert error is None
    assert outputs == {"words": 9, "unique": 8, "longest": "quick"}
    # The resource_meta is the upstream plugin's exact bytes.
    job_id = json.loads(created.resource_meta)["job_id"]
    assert created.resource_meta == json.dumps({"job_id": job_id}).encode()
    # The TaskExecutionMetadata went through flytekit's models to the core: the job is tagged.
    job = opcenter_view.job(job_id)
    assert job["status"] == "Completed"
    assert job["customTags"]["flyte-execution"] == execution.identity.name
    assert job["customTags"]["flyte-task"] == "examples.workflows.word_stats"
    # What the console shows: a link to the job and its facts.
    assert resource.log_links and job_id in resource.log_links[0].uri
    assert resource.custom_info["jobId"] == job_id

    # Abort after the fact: DeleteTask of a finished job succeeds (propeller would stay ABORTING).
    stub.DeleteTask(
        agent_pb2.DeleteTaskRequest(task_category=CATEGORY, resource_meta=created.resource_meta),
        timeout=10,
    )
    # Metrics travel through flytekit's (unary) GetTaskMetrics to our get_metrics. flytekit's
    # servicer passes only resource_meta on (queries, times and step are dropped), so all come.
    metrics = stub.GetTaskMetrics(
        agent_pb2.GetTaskMetricsRequest(
            task_category=CATEGORY, resource_meta=created.resource_meta, queries=["MMCLOUD_COST"]
        ),
        timeout=10,
    )
    assert "MMCLOUD_COST" in [result.metric for result in metrics.results]


def test_resource_meta_with_unknown_keys_is_still_polled(
    served: grpc.Channel, tmp_path: Path
) -> None:
    """flytekit's own ResourceMeta.decode raises on unknown keys; a later version may add some."""
    stub = AsyncAgentServiceStub(served)
    execution = prepare_execution(word_stats, {"text": "a b"}, tmp_path)
    created = stub.CreateTask(execution.create_request(), timeout=10)
    meta = json.loads(created.resource_meta) | {"added_later": {"x": 1}}

    resource = _wait_terminal(stub, json.dumps(meta).encode(), str(execution.paths.output_prefix))

    assert PHASE.Phase.Name(resource.phase) == "SUCCEEDED", resource.message
