"""The adapter in-process against the session's emulator: flytekit models in, the core's
operations behind, flytekit models out; plus the behaviour where upstream is wrong."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import flytekitplugins.mmcloud.connector as upstream
import pytest
from flyteidl.admin import agent_pb2
from flyteidl.core.execution_pb2 import TaskExecution
from flytekit.core.context_manager import ExecutionState, FlyteContextManager
from flytekit.extend.backend.base_connector import Resource
from flytekit.models.literals import LiteralMap
from flytekit.models.task import TaskExecutionMetadata, TaskTemplate
from flytekit_helpers import OpCenterView

from connector.config import Settings
from connector.credentials import LookupCredentials
from connector.errors import ConfigurationError, ConnectorError
from connector.flytekit_connector import MMCloudConnector, MMCloudMetadata, running_locally
from connector.service import build_operations
from demo.propeller import PreparedExecution, prepare_execution
from demo.stack import LocalStack
from examples.workflows import sleepy, word_stats

PHASE = TaskExecution
TERMINAL = {PHASE.SUCCEEDED, PHASE.FAILED, PHASE.ABORTED, PHASE.RETRYABLE_FAILED}


async def _create(
    connector: MMCloudConnector, execution: PreparedExecution, *, metadata: bool = True
) -> MMCloudMetadata:
    return await connector.create(
        task_template=TaskTemplate.from_flyte_idl(execution.template),
        inputs=LiteralMap.from_flyte_idl(execution.inputs),
        output_prefix=str(execution.paths.output_prefix),
        task_execution_metadata=(
            TaskExecutionMetadata.from_flyte_idl(execution.metadata) if metadata else None
        ),
    )


async def _until(
    connector: MMCloudConnector, meta: MMCloudMetadata, phases: set[int], timeout: float = 90
) -> Resource:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        resource = await connector.get(resource_meta=meta)
        if resource.phase in phases:
            return resource
        assert loop.time() < deadline, f"still {PHASE.Phase.Name(resource.phase)}"
        await asyncio.sleep(0.3)


@contextlib.contextmanager
def local_execution() -> Iterator[None]:
    """The flytekit context of a local ``pyflyte run``."""
    ctx = FlyteContextManager.current_context()
    state = ctx.execution_state.with_params(mode=ExecutionState.Mode.LOCAL_TASK_EXECUTION)
    with FlyteContextManager.with_context(ctx.with_execution_state(state)):
        yield


async def test_a_task_runs_to_succeeded_and_outputs_stay_in_the_blob_store(
    mmcloud_connector: MMCloudConnector, tmp_path: Path, opcenter_view: OpCenterView
) -> None:
    execution = prepare_execution(word_stats, {"text": "a b a"}, tmp_path)

    meta = await _create(mmcloud_connector, execution)
    resource = await _until(mmcloud_connector, meta, TERMINAL)

    assert resource.phase == PHASE.SUCCEEDED, resource.message
    # None, not an empty LiteralMap: the local executor then reads <output_prefix>/outputs.pb.
    assert resource.outputs is None
    assert execution.paths.outputs.exists()
    assert f"MMCloud job {meta.job_id} is Completed" in (resource.message or "")
    assert resource.custom_info and resource.custom_info["jobId"] == meta.job_id
    assert resource.log_links and meta.job_id in resource.log_links[0].uri
    tags = opcenter_view.job(meta.job_id)["customTags"]
    assert tags["flyte-execution"] == execution.identity.name


async def test_an_empty_task_execution_metadata_counts_as_none(
    mmcloud_connector: MMCloudConnector, tmp_path: Path, opcenter_view: OpCenterView
) -> None:
    """flytekit's servicer always builds a TaskExecutionMetadata model; its round trip sets
    empty sub-messages, which must not become an execution named "" (job "--0")."""
    execution = prepare_execution(word_stats, {"text": "a"}, tmp_path)
    meta = await mmcloud_connector.create(
        task_template=TaskTemplate.from_flyte_idl(execution.template),
        inputs=None,
        output_prefix=str(execution.paths.output_prefix),
        task_execution_metadata=TaskExecutionMetadata.from_flyte_idl(
            agent_pb2.TaskExecutionMetadata()
        ),
    )

    job = opcenter_view.job(meta.job_id)
    assert job["name"] == "word_stats"
    assert job["customTags"] == {"flyte-task": "examples.workflows.word_stats"}
    await mmcloud_connector.delete(resource_meta=meta)


async def test_retryable_failed_is_failed_in_a_local_run_only(
    mmcloud_connector: MMCloudConnector, tmp_path: Path, opcenter_view: OpCenterView
) -> None:
    execution = prepare_execution(sleepy, {"seconds": 60}, tmp_path)
    meta = await _create(mmcloud_connector, execution, metadata=False)
    await _until(mmcloud_connector, meta, {PHASE.RUNNING})
    opcenter_view.force_status(meta.job_id, "NoAvailableHost")

    assert not running_locally()  # flytekit's default context, as in a connector pod
    served = await mmcloud_connector.get(resource_meta=meta)
    with local_execution():
        assert running_locally()
        local = await mmcloud_connector.get(resource_meta=meta)

    assert served.phase == PHASE.RETRYABLE_FAILED
    assert local.phase == PHASE.FAILED
    assert "NoAvailableHost" in (local.message or "")
    assert "a local run does not retry" in (local.message or "")
    await mmcloud_connector.delete(resource_meta=meta)  # finished: still no error


async def test_an_unseen_status_keeps_the_task_running(
    mmcloud_connector: MMCloudConnector, tmp_path: Path, opcenter_view: OpCenterView
) -> None:
    """Upstream raises KeyError on a status it has not seen."""
    execution = prepare_execution(sleepy, {"seconds": 60}, tmp_path)
    meta = await _create(mmcloud_connector, execution)
    await _until(mmcloud_connector, meta, {PHASE.RUNNING})  # past the emulator's own steps
    opcenter_view.force_status(meta.job_id, "Hibernating")

    resource = await mmcloud_connector.get(resource_meta=meta)

    assert resource.phase == PHASE.RUNNING
    assert "'Hibernating'" in (resource.message or "")
    await mmcloud_connector.delete(resource_meta=meta)


async def test_cancel_is_idempotent_and_takes_upstream_metadata(
    mmcloud_connector: MMCloudConnector, tmp_path: Path, opcenter_view: OpCenterView
) -> None:
    execution = prepare_execution(sleepy, {"seconds": 60}, tmp_path)
    meta = await _create(mmcloud_connector, execution)
    theirs = upstream.MMCloudMetadata(job_id=meta.job_id)  # a job the upstream connector made

    await mmcloud_connector.delete(resource_meta=theirs)
    await mmcloud_connector.delete(resource_meta=theirs)
    resource = await _until(mmcloud_connector, theirs, {PHASE.ABORTED})

    assert opcenter_view.job(meta.job_id)["status"] == "Cancelled"
    assert "Cancelled" in (resource.message or "")
    # A job OpCenter never heard of: nothing to cancel, no error (an abort must be able to end).
    await mmcloud_connector.delete(resource_meta=MMCloudMetadata("NoSuchJob000000000000"))


async def test_logs_and_metrics_of_a_finished_job(
    mmcloud_connector: MMCloudConnector, tmp_path: Path
) -> None:
    execution = prepare_execution(word_stats, {"text": "logs please"}, tmp_path)
    meta = await _create(mmcloud_connector, execution)
    await _until(mmcloud_connector, meta, TERMINAL)

    pages = await mmcloud_connector.log_responses(resource_meta=meta, lines=3)
    logs = await mmcloud_connector.get_logs(resource_meta=meta, lines=3)
    metrics = await mmcloud_connector.get_metrics(
        resource_meta=meta, queries=["MMCLOUD_CORE_HOURS"]
    )

    assert pages[0].HasField("header") and pages[0].header.token
    assert all(page.HasField("body") for page in pages[1:])
    assert logs.HasField("body") and not logs.HasField("header")
    assert list(logs.body.results) == [r for page in pages[1:] for r in page.body.results]
    assert logs.body.structured_lines[0].message.startswith("==> ")  # names the log file
    assert logs.body.structured_lines[0].originator == agent_pb2.SYSTEM
    assert [result.metric for result in metrics.results] == ["MMCLOUD_CORE_HOURS"]


async def test_a_job_id_that_is_not_one_never_reaches_opcenter(
    mmcloud_connector: MMCloudConnector,
) -> None:
    with pytest.raises(ConnectorError, match="not an OpCenter job id"):
        await mmcloud_connector.get(resource_meta=MMCloudMetadata("../../login"))


async def test_credentials_from_flyte_secrets(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As in a connector pod: no MMC_* settings, the Flyte secrets as _FSEC_* variables."""
    for name in ("MMC_CREDENTIALS_SECRET", "MMC_ADDRESS", "MMC_USERNAME", "MMC_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("_FSEC_MMC_ADDRESS", stack.emulator_url)
    monkeypatch.setenv("_FSEC_MMC_USERNAME", stack.username)
    monkeypatch.setenv("_FSEC_MMC_PASSWORD", stack.password)

    await MMCloudConnector().async_login()

    monkeypatch.delenv("_FSEC_MMC_PASSWORD")
    with pytest.raises(ConfigurationError) as missing:
        await MMCloudConnector().async_login()
    assert "mmc_password" in missing.value.message
    assert "MMC_CREDENTIALS_SECRET" in missing.value.message


async def test_explicit_settings_win_over_flyte_secrets(stack: LocalStack) -> None:
    wrong = LookupCredentials(lambda name: {"mmc_address": "http://127.0.0.1:9"}.get(name))
    settings = Settings(
        address=stack.emulator_url, username=stack.username, password=stack.password
    )

    connector = MMCloudConnector(operations=build_operations(settings, fallback_credentials=wrong))

    await connector.async_login()  # the fallback would have failed: it lacks a username


def test_resource_meta_bytes_in_a_create_response_decode_to_ours() -> None:
    data = json.dumps({"job_id": "A" * 21}).encode()
    assert MMCloudConnector().metadata_type.decode(data) == MMCloudMetadata("A" * 21)
