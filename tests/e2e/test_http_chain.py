"""Flyte's calls over real HTTP: uvicorn app -> OpCenter emulator, secrets in moto's server."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import httpx
import pytest
from flyteidl.core.execution_pb2 import TaskExecution as P
from flytekitplugins.mmcloud.connector import MMCloudMetadata as UpstreamMetadata

from connector.failure import clip_line
from connector.opcenter.wire import JOB_PAGES_PATH, STDERR_LOG, Job, job_log_path, job_path
from demo.constants import TOKEN_SECRET_NAME
from demo.propeller import ConnectorCallError, ConnectorClient, run_task, start_task
from demo.stack import LocalStack
from examples import workflows

FAST = {"timeout": 60.0, "poll_interval": 0.2}
UNKNOWN_JOB = "nosuchjob000000000000"
NOT_TERMINAL = {P.QUEUED, P.WAITING_FOR_RESOURCES, P.INITIALIZING, P.RUNNING}


def job_id_of(resource_meta: bytes) -> str:
    return json.loads(resource_meta)["job_id"]


def test_a_real_task_succeeds_with_the_output_its_job_computed(
    client: ConnectorClient, opcenter: httpx.Client, blob_dir: Path
) -> None:
    text = "the cat and the hat sat"
    result = run_task(client, workflows.word_stats, {"text": text}, blob_dir, **FAST)

    assert result.phase == "SUCCEEDED", result.message
    expected = workflows.compute_word_stats(text)
    assert result.outputs == expected._asdict()
    # The outputs file was written by the job process the emulator ran, not by this test.
    job = opcenter.get(job_path(job_id_of(result.resource_meta))).json()
    assert job[Job.STATUS] == "Completed" and job[Job.RC] == "0"
    assert job[Job.CUSTOM_TAGS]["flyte-execution"] == result.execution.identity.name
    assert "RUNNING" in result.phases_seen


def test_a_failing_task_is_failed_with_its_error(
    client: ConnectorClient, opcenter: httpx.Client, blob_dir: Path
) -> None:
    result = run_task(client, workflows.fail_on_purpose, {"divisor": 0}, blob_dir, **FAST)

    assert result.phase == "FAILED"
    assert "FailToExecute" in result.message
    assert "(rc 1)" in result.message
    exception = result.message.splitlines()[1]
    assert exception.startswith("ValueError: fail_on_purpose: divisor must be non-zero")
    stderr = opcenter.get(job_log_path(job_id_of(result.resource_meta), STDERR_LOG)).text
    last = [line for line in stderr.splitlines() if line.strip()][-1]
    assert clip_line(last) in result.message  # the job's last stderr line, clipped for the console


def test_upstream_resource_meta_is_accepted_by_get_and_delete(
    client: ConnectorClient, blob_dir: Path
) -> None:
    started = start_task(client, workflows.sleepy, {"seconds": 30}, blob_dir)
    upstream = UpstreamMetadata(job_id=job_id_of(started.resource_meta)).encode()

    resource = client.get_task(upstream, output_prefix="/unused")
    assert resource.phase in NOT_TERMINAL
    client.delete_task(upstream)
    deadline = time.monotonic() + 15
    while (final := client.get_task(upstream, output_prefix="/unused")).phase != P.ABORTED:
        assert final.phase in NOT_TERMINAL, final
        assert time.monotonic() < deadline, final
        time.sleep(0.1)


def test_unknown_job_is_not_found_on_get_and_deleted_without_error(
    client: ConnectorClient,
) -> None:
    meta = UpstreamMetadata(job_id=UNKNOWN_JOB).encode()
    with pytest.raises(ConnectorCallError) as err:
        client.get_task(meta, output_prefix="/unused")
    assert (err.value.http_status, err.value.code) == (404, 5)
    assert UNKNOWN_JOB in err.value.message
    client.delete_task(meta)  # abort must be able to finish


def test_an_unseen_opcenter_status_is_a_defined_phase_with_a_message(
    stack: LocalStack, client: ConnectorClient, blob_dir: Path
) -> None:
    started = start_task(client, workflows.sleepy, {"seconds": 30}, blob_dir)
    job_id = job_id_of(started.resource_meta)
    try:
        # Force the status once the job is Executing, or its next step would overwrite ours.
        deadline = time.monotonic() + 30
        while client.get_task(started.resource_meta, output_prefix="/unused").phase != P.RUNNING:
            assert time.monotonic() < deadline, "the job never started executing"
            time.sleep(0.1)
        hook = httpx.post(
            f"{stack.emulator_url}/_emulator/jobs/{job_id}/status", json={"status": "Hibernating"}
        )
        hook.raise_for_status()
        resource = client.get_task(started.resource_meta, output_prefix="/unused")
        assert resource.phase == P.RUNNING  # keep polling, do not fail
        assert "'Hibernating'" in resource.message
    finally:
        client.delete_task(started.resource_meta)


def test_deleting_a_finished_job_succeeds(client: ConnectorClient, blob_dir: Path) -> None:
    result = run_task(client, workflows.word_stats, {"text": "a"}, blob_dir, **FAST)
    assert result.phase == "SUCCEEDED"
    client.delete_task(result.resource_meta)
    assert client.get_task(result.resource_meta, output_prefix="/o").phase == P.SUCCEEDED


def test_bad_submit_extra_is_rejected_naming_the_flag_and_submits_nothing(
    client: ConnectorClient, opcenter: httpx.Client, blob_dir: Path
) -> None:
    from demo.propeller import prepare_execution

    prepared = prepare_execution(workflows.word_stats, {"text": "a"}, blob_dir)
    prepared.template.custom.update({"submit_extra": "--vmPolicy [spotOnly=true] --turbo"})
    before = len(opcenter.get(JOB_PAGES_PATH).json()["Jobs"])
    with pytest.raises(ConnectorCallError) as err:
        client.create_task(prepared.create_request())
    assert (err.value.http_status, err.value.code) == (400, 3)
    assert "template.custom.submit_extra" in err.value.message
    assert "'--turbo'" in err.value.message
    assert len(opcenter.get(JOB_PAGES_PATH).json()["Jobs"]) == before


@pytest.mark.parametrize(
    ("path", "named"),
    [
        ("/api/v1/agent/task/mmcloud_task/0/%%%", "resource_meta"),
        (
            "/api/v1/agent/task/mmcloud_task/0/" + base64.urlsafe_b64encode(b"nope").decode(),
            "resource_meta",
        ),
        ("/api/v1/agent/task/mmcloud_task/zero/eA", "task_category.version"),
        (
            "/api/v1/agent/task/spark/0/" + base64.urlsafe_b64encode(b'{"job_id": "x"}').decode(),
            "spark",
        ),
    ],
)
def test_malformed_requests_get_a_status_naming_the_field(
    stack: LocalStack, path: str, named: str
) -> None:
    resp = httpx.get(stack.app_url + path)
    assert 400 <= resp.status_code < 500
    body = resp.json()
    assert set(body) == {"code", "message", "details"}
    assert named in body["message"]
    assert "Traceback" not in resp.text


def test_create_with_a_broken_body_is_invalid_argument(stack: LocalStack) -> None:
    resp = httpx.post(stack.app_url + "/api/v1/agent/task", content=b"{not json")
    assert resp.status_code == 400
    assert resp.json()["code"] == 3
    assert resp.json()["message"].startswith("body:")


def test_the_session_token_is_shared_through_the_secret_and_renewed_when_it_expires(
    stack: LocalStack, client: ConnectorClient, blob_dir: Path
) -> None:
    started = start_task(client, workflows.sleepy, {"seconds": 30}, blob_dir)
    try:
        secrets = stack.secrets_client()

        def stored() -> dict[str, str]:
            raw = secrets.get_secret_value(SecretId=TOKEN_SECRET_NAME, VersionStage="AWSCURRENT")
            return json.loads(raw["SecretString"])

        first = stored()
        assert first["token"] and first["address"] == stack.emulator_url
        httpx.post(stack.emulator_url + "/_emulator/expire-tokens").raise_for_status()
        resource = client.get_task(started.resource_meta, output_prefix="/o")
        assert resource.phase in NOT_TERMINAL
        assert stored()["token"] not in ("", first["token"])
    finally:
        client.delete_task(started.resource_meta)


def test_no_password_or_token_in_the_app_log(stack: LocalStack) -> None:
    log = (stack.log_dir / "app.log").read_text()
    assert stack.password not in log
    token = json.loads(
        stack.secrets_client().get_secret_value(
            SecretId=TOKEN_SECRET_NAME, VersionStage="AWSCURRENT"
        )["SecretString"]
    )["token"]
    assert token and token not in log
