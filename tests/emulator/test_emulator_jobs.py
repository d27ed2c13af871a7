"""Jobs on the emulator run as real local processes: status flow, logs, env, rc, cancel, hooks."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import psutil
import pytest
from emulator_helpers import (
    PASSWORD,
    USERNAME,
    is_gone,
    login,
    wait_for,
    wait_status,
    wait_terminal,
)

from connector.opcenter.statuses import Status
from connector.opcenter.wire import (
    JOB_ID_ENV,
    JOBS_PATH,
    STDERR_LOG,
    STDOUT_LOG,
    ErrorBody,
    ErrorCode,
    Job,
    Submit,
    job_log_path,
    job_path,
)
from emulator import EmulatorServer


def submit(client: httpx.Client, script: str, **fields: object) -> str:
    body = {Submit.IMAGE: "ubuntu:24.04", Submit.JOB_CONTENT: script, **fields}
    response = client.post(JOBS_PATH, json=body)
    assert response.status_code == 200, response.text
    job_id: str = response.json()[Job.ID]
    return job_id


def job_dir(emulator: EmulatorServer, job_id: str) -> Path:
    return emulator.data_dir / "jobs" / job_id


def running_pid(emulator: EmulatorServer, client: httpx.Client, job_id: str) -> int:
    wait_status(client, job_id, Status.EXECUTING)
    deadline = time.monotonic() + 5
    while (pid := emulator.jobs.get(job_id).pid) is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return pid


def test_job_completes_and_writes_stdout(emulator: EmulatorServer, client: httpx.Client) -> None:
    job_id = submit(client, "echo 'hello from the job'\necho oops >&2\nexit 0\n", cpu="2")
    record = wait_terminal(client, job_id)
    assert record[Job.STATUS] == Status.COMPLETED
    assert record[Job.RC] == "0"
    assert record[Job.WORKING_HOST] == "127.0.0.1"
    assert record[Job.EXEC_TIME] <= record[Job.END_TIME]
    assert isinstance(record[Job.DURATION], float)
    assert record[Job.COST].endswith(" USD")
    stdout = (job_dir(emulator, job_id) / STDOUT_LOG).read_text()
    assert "hello from the job" in stdout
    assert (job_dir(emulator, job_id) / STDERR_LOG).read_text() == "oops\n"


def test_envs_and_job_id_reach_the_process(
    emulator: EmulatorServer, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMULATOR_TEST_INHERITED", "from-the-host")
    monkeypatch.setenv("MMC_EMULATOR_PASSWORD", "must-not-leak")
    script = (
        'echo "greeting=$GREETING"\n'
        'echo "equals=$WITH_EQUALS"\n'
        f'echo "job=${JOB_ID_ENV}"\n'
        'echo "inherited=$EMULATOR_TEST_INHERITED"\n'
        'echo "leaked=${MMC_EMULATOR_PASSWORD:-none}"\n'
        'echo "cwd=$PWD"\n'
    )
    job_id = submit(client, script, envs=["GREETING=hi there", "WITH_EQUALS=a=b"])
    assert wait_terminal(client, job_id)[Job.STATUS] == Status.COMPLETED
    lines = (job_dir(emulator, job_id) / STDOUT_LOG).read_text().splitlines()
    assert lines == [
        "greeting=hi there",
        "equals=a=b",
        f"job={job_id}",
        "inherited=from-the-host",
        "leaked=none",
        f"cwd={(job_dir(emulator, job_id) / 'work').resolve()}",
    ]


def test_nonzero_exit_is_fail_to_execute(client: httpx.Client) -> None:
    record = wait_terminal(client, submit(client, "echo about to fail\nexit 3\n"))
    assert record[Job.STATUS] == Status.FAIL_TO_EXECUTE
    assert record[Job.RC] == "3"


def test_status_sequence_goes_through_executing(client: httpx.Client) -> None:
    job_id = submit(client, "sleep 0.3\n")
    seen: list[str] = []

    def note(record: dict) -> bool:
        if not seen or seen[-1] != record[Job.STATUS]:
            seen.append(record[Job.STATUS])
        return record[Job.STATUS] == Status.COMPLETED

    wait_for(client, job_id, note)
    order = [Status.SUBMITTED, Status.INITIALIZING, Status.STARTING, Status.EXECUTING]
    order.append(Status.COMPLETED)
    assert Status.EXECUTING in seen
    assert seen == [status for status in order if status in seen], seen


def test_resource_samples_are_recorded(emulator: EmulatorServer, client: httpx.Client) -> None:
    job_id = submit(client, "i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done; sleep 0.3\n")
    wait_terminal(client, job_id)
    samples = emulator.jobs.get(job_id).samples
    assert len(samples) >= 2
    timestamp, cpu_percent, rss_bytes = samples[-1]
    assert timestamp > samples[0].timestamp
    assert all(sample.rss_bytes > 0 for sample in samples)
    assert cpu_percent >= 0.0 and rss_bytes > 0


def test_cancel_kills_the_process_group(emulator: EmulatorServer, client: httpx.Client) -> None:
    job_id = submit(client, "sleep 60\n")
    pid = running_pid(emulator, client, job_id)
    children = psutil.Process(pid).children(recursive=True)
    response = client.delete(job_path(job_id))
    assert response.status_code == 200
    assert response.json()[Job.STATUS] == Status.CANCELLING
    record = wait_terminal(client, job_id, timeout=5)
    assert record[Job.STATUS] == Status.CANCELLED
    assert Job.RC not in record
    assert Job.END_TIME in record
    assert is_gone(pid)
    assert children and all(is_gone(child.pid) for child in children)


def test_cancel_escalates_to_sigkill(emulator: EmulatorServer, client: httpx.Client) -> None:
    # The script and its sleep ignore SIGTERM; only the SIGKILL after the grace ends them.
    job_id = submit(client, "trap '' TERM\nsleep 60\n")
    pid = running_pid(emulator, client, job_id)
    assert client.delete(job_path(job_id)).json()[Job.STATUS] == Status.CANCELLING
    # Still going during the grace period; a second cancel is not an error.
    again = client.delete(job_path(job_id))
    assert again.status_code == 200
    assert again.json()[Job.STATUS] == Status.CANCELLING
    assert wait_terminal(client, job_id, timeout=5)[Job.STATUS] == Status.CANCELLED
    assert is_gone(pid)


def test_cancel_before_start_never_runs_the_script() -> None:
    emulator = EmulatorServer(username=USERNAME, password=PASSWORD, step_delay=0.3)
    with emulator, login(emulator.url) as client:
        job_id = submit(client, "touch ran\n")
        response = client.delete(job_path(job_id))
        assert response.json()[Job.STATUS] == Status.CANCELLING
        record = wait_terminal(client, job_id)
        assert record[Job.STATUS] == Status.CANCELLED
        assert Job.EXEC_TIME not in record
        time.sleep(0.4)  # past the next step: still nothing started
        assert emulator.jobs.get(job_id).pid is None
        assert not (job_dir(emulator, job_id) / "work" / "ran").exists()
        assert not (job_dir(emulator, job_id) / STDOUT_LOG).exists()


def test_cancel_of_finished_job_is_refused(client: httpx.Client) -> None:
    job_id = submit(client, "exit 0\n")
    wait_terminal(client, job_id)
    response = client.delete(job_path(job_id))
    assert response.status_code == 400
    body = response.json()
    assert body[ErrorBody.ERROR_CODE] == ErrorCode.INVALID_ARGUMENT
    assert f"already {Status.COMPLETED}" in body[ErrorBody.MESSAGE]


def test_background_processes_end_with_the_job(
    emulator: EmulatorServer, client: httpx.Client
) -> None:
    job_id = submit(client, "sleep 60 &\necho $! > bg.pid\nexit 0\n")
    assert wait_terminal(client, job_id)[Job.STATUS] == Status.COMPLETED
    background = int((job_dir(emulator, job_id) / "work" / "bg.pid").read_text())
    deadline = time.monotonic() + 2
    while not is_gone(background):
        assert time.monotonic() < deadline, "background process outlived its job"
        time.sleep(0.02)


def test_forced_unseen_status_then_cancel(emulator: EmulatorServer, client: httpx.Client) -> None:
    job_id = submit(client, "sleep 60\n")
    pid = running_pid(emulator, client, job_id)
    assert emulator.force_status(job_id, "Hibernating")[Job.STATUS] == "Hibernating"
    assert client.get(job_path(job_id)).json()[Job.STATUS] == "Hibernating"
    assert client.delete(job_path(job_id)).status_code == 200
    assert wait_terminal(client, job_id)[Job.STATUS] == Status.CANCELLED
    assert is_gone(pid)


def test_forced_terminal_status_stops_the_job_and_sticks(
    emulator: EmulatorServer, client: httpx.Client
) -> None:
    job_id = submit(client, "sleep 60\n")
    pid = running_pid(emulator, client, job_id)
    emulator.force_status(job_id, Status.NO_AVAILABLE_HOST)
    deadline = time.monotonic() + 5
    while not is_gone(pid):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.1)
    record = client.get(job_path(job_id)).json()
    assert record[Job.STATUS] == Status.NO_AVAILABLE_HOST
    assert Job.END_TIME in record


def test_force_status_hook_errors(emulator: EmulatorServer) -> None:
    unknown = httpx.post(f"{emulator.url}/_emulator/jobs/{'b' * 21}/status", json={"status": "X"})
    assert unknown.status_code == 404
    assert unknown.json()[ErrorBody.ERROR_CODE] == ErrorCode.JOB_NOT_FOUND
    with login(emulator.url) as client:
        job_id = submit(client, "exit 0\n")
    bad = httpx.post(f"{emulator.url}/_emulator/jobs/{job_id}/status", json={"state": "X"})
    assert bad.status_code == 400
    assert "status" in bad.json()[ErrorBody.MESSAGE]


def test_stopping_the_emulator_kills_running_jobs() -> None:
    emulator = EmulatorServer(username=USERNAME, password=PASSWORD)
    with emulator, login(emulator.url) as client:
        job_id = submit(client, "sleep 60\n")
        pid = running_pid(emulator, client, job_id)
        data_dir = emulator.data_dir
    assert is_gone(pid)
    assert not data_dir.exists(), "the emulator's own temp data dir was left behind"


def test_log_files_are_served_as_text(emulator: EmulatorServer, client: httpx.Client) -> None:
    job_id = submit(client, "echo to-out; echo to-err >&2; exit 0")
    wait_status(client, job_id, Status.COMPLETED)
    out = client.get(job_log_path(job_id, STDOUT_LOG))
    err = client.get(job_log_path(job_id, STDERR_LOG))
    assert (out.status_code, out.text) == (200, "to-out\n")
    assert (err.status_code, err.text) == (200, "to-err\n")
    assert client.get(job_log_path(job_id, "secrets.txt")).status_code == 404
    assert httpx.get(emulator.url + job_log_path(job_id, STDOUT_LOG)).status_code == 401
