"""The emulator's OpCenter REST surface: login, sessions, validation, errors, listing."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from emulator_helpers import PASSWORD, USERNAME, login

from connector.opcenter.statuses import Status
from connector.opcenter.wire import (
    JOB_PAGES_KEY,
    JOB_PAGES_PATH,
    JOBS_PATH,
    LOGIN_PATH,
    STDERR_LOG,
    STDOUT_LOG,
    TOKEN_HEADER,
    ErrorBody,
    ErrorCode,
    Job,
    Submit,
    is_job_id,
    job_path,
)
from emulator import EmulatorServer

SCRIPT = "echo hello"


def assert_error(response: httpx.Response, status: int, code: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body[ErrorBody.STATUS_CODE] == status
    assert body[ErrorBody.ERROR_CODE] == code
    assert isinstance(body[ErrorBody.MESSAGE], str)
    return body


# --- login and sessions ----------------------------------------------------------------------


def test_login_returns_token_in_header(emulator: EmulatorServer) -> None:
    response = httpx.get(emulator.url + LOGIN_PATH, auth=(USERNAME, PASSWORD))
    assert response.status_code == 200
    assert response.headers[TOKEN_HEADER].startswith("Bearer ")
    assert response.json() == {"message": "login succeeded"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic not-base64!"},
        {"Authorization": "Bearer something"},
    ],
)
def test_login_without_credentials_is_2003(emulator: EmulatorServer, headers: dict) -> None:
    assert_error(httpx.get(emulator.url + LOGIN_PATH, headers=headers), 401, 2003)


@pytest.mark.parametrize("auth", [(USERNAME, "wrong"), ("nobody", PASSWORD)])
def test_login_bad_credentials_is_2003(emulator: EmulatorServer, auth: tuple) -> None:
    body = assert_error(httpx.get(emulator.url + LOGIN_PATH, auth=auth), 401, 2003)
    assert PASSWORD not in body[ErrorBody.MESSAGE]


@pytest.mark.parametrize("headers", [{}, {TOKEN_HEADER: "Bearer 0123456789abcdef"}])
def test_missing_or_unknown_token_is_session_timeout(
    emulator: EmulatorServer, headers: dict
) -> None:
    response = httpx.get(emulator.url + JOB_PAGES_PATH, headers=headers)
    assert_error(response, 401, ErrorCode.SESSION_TIMEOUT)


def test_expire_tokens_hook_forces_relogin(emulator: EmulatorServer) -> None:
    with login(emulator.url) as http:
        assert http.get(JOB_PAGES_PATH).status_code == 200
        assert emulator.expire_tokens() >= 1
        assert_error(http.get(JOB_PAGES_PATH), 401, ErrorCode.SESSION_TIMEOUT)
    with login(emulator.url) as http:
        assert http.get(JOB_PAGES_PATH).status_code == 200


def test_session_timeout_slides_with_use() -> None:
    emulator = EmulatorServer(username=USERNAME, password=PASSWORD, token_ttl=0.8)
    with emulator, login(emulator.url) as http:
        # Busy for three TTLs: every call renews the session.
        deadline = time.monotonic() + 1.8
        while time.monotonic() < deadline:
            assert http.get(JOB_PAGES_PATH).status_code == 200
            time.sleep(0.2)
        # Idle past the TTL: the session has lapsed.
        time.sleep(1.1)
        assert_error(http.get(JOB_PAGES_PATH), 401, ErrorCode.SESSION_TIMEOUT)


# --- submit validation -----------------------------------------------------------------------

VALID: dict[str, Any] = {Submit.IMAGE: "ubuntu:24.04", Submit.JOB_CONTENT: SCRIPT}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({Submit.IMAGE: None}, Submit.IMAGE),
        ({Submit.IMAGE: ""}, Submit.IMAGE),
        ({Submit.JOB_CONTENT: None}, Submit.JOB_CONTENT),
        ({Submit.JOB_CONTENT: ["echo"]}, Submit.JOB_CONTENT),
        ({Submit.CPU: 2}, Submit.CPU),
        ({Submit.CPU: "4:2"}, Submit.CPU),
        ({Submit.CPU: "0"}, Submit.CPU),
        ({Submit.MEM: "lots"}, Submit.MEM),
        ({Submit.MEM: "-1"}, Submit.MEM),
        ({Submit.ENVS: ["NO_EQUALS"]}, Submit.ENVS),
        ({Submit.ENVS: "A=1"}, Submit.ENVS),
        ({Submit.ENVS: ["=value"]}, Submit.ENVS),
        ({Submit.CUSTOM_TAGS: {"team": 7}}, Submit.CUSTOM_TAGS),
        ({Submit.CUSTOM_TAGS: ["team:a"]}, Submit.CUSTOM_TAGS),
        ({Submit.DATA_VOLUMES: [1]}, Submit.DATA_VOLUMES),
        ({Submit.NAME: ""}, Submit.NAME),
        ({Submit.VM_POLICY: {"spotOnly": True}}, Submit.VM_POLICY),
        ({"bogusField": 1}, "bogusField"),
    ],
)
def test_submit_validation_names_the_field(
    client: httpx.Client, change: dict[str, Any], field: str
) -> None:
    body = {**VALID, **change}
    body = {k: v for k, v in body.items() if v is not None or k not in VALID}
    error = assert_error(client.post(JOBS_PATH, json=body), 400, ErrorCode.INVALID_ARGUMENT)
    assert field in error[ErrorBody.MESSAGE]


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"[1, 2]",
        b"",
        b'"text"',
        b"\xff\xfe",
        b"[" * 100_000,
        b'{"image": "x", "jobContent": "echo \\ud800"}',  # a lone surrogate
    ],
)
def test_submit_rejects_bodies_that_are_not_objects(client: httpx.Client, raw: bytes) -> None:
    response = client.post(JOBS_PATH, content=raw, headers={"Content-Type": "application/json"})
    assert_error(response, 400, ErrorCode.INVALID_ARGUMENT)


def test_submitted_record_has_opcenter_fields(client: httpx.Client) -> None:
    body = {
        **VALID,
        Submit.CPU: "2:4",
        Submit.MEM: "8",
        Submit.NAME: "my-task",
        Submit.CUSTOM_TAGS: {"flyte-execution": "abc"},
        Submit.DATA_VOLUMES: ["[size=10]:/data"],
        Submit.VM_POLICY: "onDemand=true",
        Submit.IMAGE_VOL_SIZE: 20,
        Submit.WITH_ROOT: True,
        Submit.INST_TYPE: None,  # null means "not given"
    }
    response = client.post(JOBS_PATH, json=body)
    assert response.status_code == 200, response.text
    record = response.json()
    assert is_job_id(record[Job.ID])
    assert record[Job.NAME] == "my-task"
    assert record[Job.STATUS] == Status.SUBMITTED
    assert record[Job.CUSTOM_TAGS] == {"flyte-execution": "abc"}
    assert (record[Job.CPU], record[Job.MEM_GB]) == (2, 8)
    assert record[Job.IMAGE] == "ubuntu:24.04"
    assert record[Job.VM_POLICY] == "onDemand=true"
    assert record[Job.INSTANCE_TYPE] == "emulator.local"
    assert (record[Job.STDOUT], record[Job.STDERR]) == (STDOUT_LOG, STDERR_LOG)
    assert record[Job.SUBMIT_TIME].endswith("Z")
    assert record[Job.COST].endswith(" USD")
    for absent in (Job.RC, Job.EXEC_TIME, Job.END_TIME, Job.WORKING_HOST):
        assert absent not in record
    shown = client.get(job_path(record[Job.ID])).json()
    assert shown[Job.ID] == record[Job.ID]


def test_default_name(client: httpx.Client) -> None:
    record = client.post(JOBS_PATH, json=VALID).json()
    assert record[Job.NAME].startswith("job-")
    assert (record[Job.CPU], record[Job.MEM_GB]) == (1, 1)


# --- lookups ---------------------------------------------------------------------------------


@pytest.mark.parametrize("job_id", ["a" * 21, "short", "not-alphanumeric-id!!"])
def test_unknown_job_is_404(client: httpx.Client, job_id: str) -> None:
    path = f"{JOBS_PATH}/{job_id}"
    assert_error(client.get(path), 404, ErrorCode.JOB_NOT_FOUND)
    assert_error(client.delete(path), 404, ErrorCode.JOB_NOT_FOUND)


def test_auth_is_checked_before_the_job_id(emulator: EmulatorServer) -> None:
    response = httpx.get(emulator.url + f"{JOBS_PATH}/{'a' * 21}")
    assert_error(response, 401, ErrorCode.SESSION_TIMEOUT)


def test_job_pages_lists_jobs(client: httpx.Client) -> None:
    ids = {client.post(JOBS_PATH, json=VALID).json()[Job.ID] for _ in range(2)}
    response = client.get(JOB_PAGES_PATH)
    assert response.status_code == 200
    listed = {record[Job.ID] for record in response.json()[JOB_PAGES_KEY]}
    assert ids <= listed


def test_unknown_route_uses_the_envelope(client: httpx.Client) -> None:
    assert_error(client.get("/api/v1/nothing-here"), 404, ErrorCode.INVALID_ARGUMENT)
    assert_error(client.get(JOBS_PATH + "/"), 404, ErrorCode.INVALID_ARGUMENT)
    assert_error(client.put(JOBS_PATH), 405, ErrorCode.INVALID_ARGUMENT)
