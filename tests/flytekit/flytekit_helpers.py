"""Helpers for the flytekit adapter tests: child-process environments, the emulator's view."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from connector.opcenter.wire import JOB_PAGES_KEY, JOB_PAGES_PATH, LOGIN_PATH, TOKEN_HEADER
from demo.stack import LocalStack
from emulator.hooks import FORCE_STATUS_PATH, STATUS_FIELD

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = Path(sys.executable).parent
#: Variables that would point a child process at another OpCenter or at AWS.
SCRUBBED_PREFIXES = ("MMC_", "AWS_", "_FSEC_", "FLYTE_")


def child_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without OpCenter/AWS/Flyte settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_PREFIXES)}
    env.update({"PYTHONUNBUFFERED": "1", "COLUMNS": "200"})
    env.update(extra)
    return env


class OpCenterView:
    """The emulator seen from OpCenter's side: its job list and its test hooks."""

    def __init__(self, stack: LocalStack) -> None:
        self._url = stack.emulator_url
        resp = httpx.get(self._url + LOGIN_PATH, auth=(stack.username, stack.password))
        resp.raise_for_status()
        self._headers = {TOKEN_HEADER: resp.headers[TOKEN_HEADER]}

    def jobs(self) -> dict[str, dict[str, Any]]:
        resp = httpx.get(self._url + JOB_PAGES_PATH, headers=self._headers)
        resp.raise_for_status()
        return {job["id"]: job for job in resp.json()[JOB_PAGES_KEY]}

    def job(self, job_id: str) -> dict[str, Any]:
        return self.jobs()[job_id]

    def force_status(self, job_id: str, status: str) -> None:
        path = FORCE_STATUS_PATH.format(job_id=job_id)
        resp = httpx.post(self._url + path, json={STATUS_FIELD: status})
        resp.raise_for_status()

    def wait_for(
        self, job_id: str, done: Callable[[dict[str, Any]], bool], timeout: float = 60.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            job = self.jobs().get(job_id, {})
            if job and done(job):
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} never got there; last seen: {job}")
            time.sleep(0.2)
