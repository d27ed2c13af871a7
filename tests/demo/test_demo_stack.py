"""The local stack and the demo, end to end: emulator + moto + the connector app, driven like
FlytePropeller."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from flyteidl.core import execution_pb2

from demo.constants import (
    AWS_REGION,
    CREDENTIALS_SECRET_ENV,
    CREDENTIALS_SECRET_NAME,
    SECRETS_MANAGER_ENDPOINT_ENV,
    TASK_TYPE,
    TOKEN_SECRET_ENV,
    TOKEN_SECRET_NAME,
)
from demo.propeller import (
    ConnectorClient,
    abort_task,
    follow_task,
    phase_name,
    run_task,
    start_task,
)
from demo.stack import REPO_ROOT, LocalStack, app_environment
from examples.workflows import fail_on_purpose, sleepy, word_stats

PHASE = execution_pb2.TaskExecution


def test_app_environment_names_the_secrets_and_drops_stray_credentials() -> None:
    base = {"HOME": "/h", "MMC_ADDRESS": "https://real", "MMC_PASSWORD": "x", "AWS_PROFILE": "prod"}

    env = app_environment("http://127.0.0.1:5000", base)

    assert env[CREDENTIALS_SECRET_ENV] == CREDENTIALS_SECRET_NAME
    assert env[TOKEN_SECRET_ENV] == TOKEN_SECRET_NAME
    assert env[SECRETS_MANAGER_ENDPOINT_ENV] == "http://127.0.0.1:5000"
    assert env["AWS_DEFAULT_REGION"] == AWS_REGION
    assert env["HOME"] == "/h"
    assert not {"MMC_ADDRESS", "MMC_PASSWORD", "AWS_PROFILE"} & set(env)


def test_the_stack_keeps_the_password_out_of_sight(stack: LocalStack) -> None:
    assert stack.password
    assert stack.password not in repr(stack)
    assert stack.password not in json.dumps(stack.app_env)
    for log in stack.log_dir.glob("*.log"):
        assert stack.password not in log.read_text(errors="replace"), log


def test_the_stack_seeds_both_secrets(stack: LocalStack) -> None:
    secrets = stack.secrets_client()
    credentials = json.loads(
        secrets.get_secret_value(SecretId=CREDENTIALS_SECRET_NAME, VersionStage="AWSCURRENT")[
            "SecretString"
        ]
    )
    assert credentials == {
        "address": stack.emulator_url,
        "username": stack.username,
        "password": stack.password,
    }
    token = secrets.get_secret_value(SecretId=TOKEN_SECRET_NAME, VersionStage="AWSCURRENT")
    assert "token" in json.loads(token["SecretString"])


def test_the_app_lists_the_mmcloud_agent(client: ConnectorClient) -> None:
    categories = {
        (category.name, category.version)
        for agent in client.list_agents().agents
        for category in agent.supported_task_categories
    }
    assert (TASK_TYPE, 0) in categories


def test_word_stats_succeeds_with_its_outputs_read_back(
    stack: LocalStack, client: ConnectorClient
) -> None:
    result = run_task(
        client,
        word_stats,
        {"text": "The quick brown fox jumps over the lazy dog"},
        stack.blob_dir,
        timeout=60,
        interactive=False,
    )

    assert result.phase == "SUCCEEDED", (result.message, result.error)
    assert result.outputs == {"words": 9, "unique": 8, "longest": "quick"}
    assert result.phases_seen[-1] == "SUCCEEDED"
    assert json.loads(result.resource_meta)["job_id"]


def test_fail_on_purpose_fails_and_its_error_reaches_propeller(
    stack: LocalStack, client: ConnectorClient
) -> None:
    result = run_task(
        client, fail_on_purpose, {"divisor": 0}, stack.blob_dir, timeout=60, interactive=False
    )

    assert result.phase == "FAILED"
    assert result.outputs is None
    assert "divisor must be non-zero" in (result.message + (result.error or ""))


def test_delete_aborts_a_running_task(stack: LocalStack, client: ConnectorClient) -> None:
    started = start_task(client, sleepy, {"seconds": 120}, stack.blob_dir, interactive=False)
    output_prefix = str(started.execution.paths.output_prefix)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        phase = client.get_task(started.resource_meta, output_prefix=output_prefix).phase
        if phase == PHASE.RUNNING:
            break
        time.sleep(0.2)
    assert phase_name(phase) == "RUNNING"

    abort_task(client, started)
    result = follow_task(client, started, timeout=30, poll_interval=0.5)

    assert result.phase == "ABORTED", result.message
    assert result.elapsed_s < 60  # well before the 120 s sleep would have ended
    client.delete_task(started.resource_meta)  # deleting a finished job must succeed too


def test_python_m_demo_passes(stack: LocalStack) -> None:
    # The stack fixture only proves the parts exist; the demo starts its own stack.
    done = subprocess.run(
        [sys.executable, "-m", "demo", "--timeout", "60"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Demo passed." in done.stdout
    assert "words=9, unique=8, longest='quick'" in done.stdout
    assert "FAILED" in done.stdout and "divisor must be non-zero" in done.stdout
    assert re.search(
        r"ok +sleepy \(abort\) +ABORTED .*job Cancelled, its processes gone", done.stdout
    )
    work_dir = re.search(r"work dir\s+(\S+)", done.stdout)
    assert work_dir is not None
    assert not Path(work_dir.group(1)).exists()  # its temporary directory is cleaned up


def test_serve_keeps_the_stack_up_with_commands_that_work_until_ctrl_c() -> None:
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "demo", "--timeout", "60", "--sleep", "30", "--serve"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines: list[str] = []
        for line in process.stdout:  # the demo runs first; then the commands are printed
            lines.append(line)
            if "handler.gateway.healthcheck" in line:
                break
        printed = "".join(lines)
        assert "Demo passed." in printed, printed[-3000:]
        exported = dict(re.findall(r"\b(APP|GATEWAY|META)=(\S+)", printed))
        app, meta = exported["APP"], exported["META"]

        agents = httpx.get(f"{app}/api/v1/agents", timeout=10).json()
        assert agents["agents"][0]["supportedTaskTypes"] == [TASK_TYPE]
        resource = httpx.get(f"{app}/api/v1/agent/task/{TASK_TYPE}/0/{meta}", timeout=10).json()
        assert resource["resource"]["phase"] == "SUCCEEDED"
        logs = httpx.get(f"{app}/api/v1/agent/task/logs/{TASK_TYPE}/0/{meta}?lines=20", timeout=10)
        assert "counted 9 words, 8 distinct" in logs.text

        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 0, rest[-3000:]
    assert "Stopping the stack" in rest
    with pytest.raises(httpx.TransportError):  # the stack went with Ctrl-C
        httpx.get(f"{app}/api/v1/agents", timeout=2)
    work_dir = re.search(r"work dir\s+(\S+)", printed)
    assert work_dir is not None and not Path(work_dir.group(1)).exists()
