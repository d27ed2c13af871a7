"""Helpers for the emulator tests (a module of its own: tests/ is not a package)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import psutil

from connector.opcenter.statuses import phase_for
from connector.opcenter.wire import LOGIN_PATH, TOKEN_HEADER, Job, job_path

USERNAME = "tester"
PASSWORD = "s3cret-pw"


def login(url: str, username: str = USERNAME, password: str = PASSWORD) -> httpx.Client:
    """A client carrying a fresh session token, as the connector's client would."""
    response = httpx.get(url + LOGIN_PATH, auth=(username, password))
    assert response.status_code == 200, response.text
    return httpx.Client(base_url=url, headers={TOKEN_HEADER: response.headers[TOKEN_HEADER]})


def wait_for(
    client: httpx.Client,
    job_id: str,
    done: Callable[[dict[str, Any]], bool],
    timeout: float = 8.0,
) -> dict[str, Any]:
    """Poll the job until ``done(record)``; fail with the last record on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(job_path(job_id))
        assert response.status_code == 200, response.text
        record: dict[str, Any] = response.json()
        if done(record):
            return record
        assert time.monotonic() < deadline, f"timed out; last record: {record}"
        time.sleep(0.02)


def wait_terminal(client: httpx.Client, job_id: str, timeout: float = 8.0) -> dict[str, Any]:
    return wait_for(client, job_id, lambda r: phase_for(r[Job.STATUS]).terminal, timeout)


def wait_status(client: httpx.Client, job_id: str, status: str) -> dict[str, Any]:
    return wait_for(client, job_id, lambda r: r[Job.STATUS] == status)


def is_gone(pid: int) -> bool:
    """The process no longer runs (a zombie nobody reaped counts as gone)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
