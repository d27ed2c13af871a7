"""``python -m emulator`` as a user starts it: ready line, login, clean exit on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from emulator_helpers import is_gone

from connector.opcenter.statuses import Status
from connector.opcenter.wire import JOBS_PATH, LOGIN_PATH, TOKEN_HEADER, Job, Submit, job_path

READY = re.compile(
    r"^OpCenter emulator listening on (http://127\.0\.0\.1:(\d+)) \(data dir: (.+)\)$"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def read_line(stream: object, timeout: float) -> str:
    """First line of a pipe, without hanging the test if it never comes."""
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(stream.readline()))  # type: ignore[attr-defined]
    reader.daemon = True
    reader.start()
    reader.join(timeout)
    assert result, "the emulator printed no ready line"
    return result[0].rstrip("\n")


def test_cli_serves_and_exits_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    password = "cli-secret-pw"
    env = {**os.environ, "MMC_EMULATOR_PASSWORD": password}
    command = [sys.executable, "-m", "emulator", "--port", str(port), "--data-dir", str(tmp_path)]
    command += ["--step-delay", "0.05"]
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = read_line(proc.stdout, timeout=15)
        match = READY.match(line)
        assert match, line
        url = match.group(1)
        assert int(match.group(2)) == port
        assert Path(match.group(3)) == tmp_path.resolve()

        login = httpx.get(url + LOGIN_PATH, auth=("admin", password))
        assert login.status_code == 200
        token = login.headers[TOKEN_HEADER]
        with httpx.Client(base_url=url, headers={TOKEN_HEADER: token}) as client:
            body = {Submit.IMAGE: "ubuntu", Submit.JOB_CONTENT: "echo $$ > ../pid\nsleep 60\n"}
            job_id = client.post(JOBS_PATH, json=body).json()[Job.ID]
            pid_file = tmp_path / "jobs" / job_id / "pid"
            deadline = time.monotonic() + 5
            while not (pid_file.exists() and pid_file.read_text().strip()):
                assert time.monotonic() < deadline, client.get(job_path(job_id)).json()
                time.sleep(0.02)
            assert client.get(job_path(job_id)).json()[Job.STATUS] == Status.EXECUTING
        job_pid = int(pid_file.read_text())

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert is_gone(job_pid), "the job's process survived the emulator"
        _, stderr = proc.communicate(timeout=5)
        assert f"job {job_id}: Starting -> Executing" in stderr
        assert password not in stderr
        assert token.split()[-1] not in stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
