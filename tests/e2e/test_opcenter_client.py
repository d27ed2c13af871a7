"""The OpCenter client and token store against the real emulator and moto's Secrets Manager."""

from __future__ import annotations

import json
import socket
import time
import uuid

import httpx
import pytest

from connector.credentials import Credentials, SecretCredentials, StaticCredentials
from connector.errors import Code, OpCenterError
from connector.opcenter.client import OpCenterClient
from connector.opcenter.wire import LOGIN_PATH, Job, Submit
from connector.secrets import JsonSecret
from connector.tokens import MemoryTokenStore, SecretTokenStore
from demo.stack import LocalStack, secrets_manager_client


class CountingTransport(httpx.AsyncHTTPTransport):
    """A real transport that counts the requests it sends, by path."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return await super().handle_async_request(request)

    @property
    def logins(self) -> int:
        return self.paths.count(LOGIN_PATH)


def creds(stack: LocalStack, password: str | None = None) -> Credentials:
    return Credentials(stack.emulator_url, stack.username, password or stack.password)


def job_body() -> dict[str, object]:
    return {Submit.IMAGE: "img", Submit.JOB_CONTENT: "#!/bin/bash\nexit 0\n"}


def new_secret(stack: LocalStack, value: dict[str, str]) -> JsonSecret:
    name = f"test/{uuid.uuid4()}"
    client = secrets_manager_client(stack.moto_url)
    client.create_secret(Name=name, SecretString=json.dumps(value))
    return JsonSecret(name, client)


def expire_tokens(stack: LocalStack) -> None:
    httpx.post(stack.emulator_url + "/_emulator/expire-tokens").raise_for_status()


def shared_client(stack: LocalStack, secret_id: str) -> tuple[OpCenterClient, CountingTransport]:
    """One instance: its own memory and connection pool, the shared token secret."""
    transport = CountingTransport()
    store = SecretTokenStore(JsonSecret(secret_id, secrets_manager_client(stack.moto_url)))
    return OpCenterClient(StaticCredentials(creds(stack)), store, transport=transport), transport


async def test_logs_in_once_and_again_only_when_the_session_expires(stack: LocalStack) -> None:
    transport = CountingTransport()
    client = OpCenterClient(
        StaticCredentials(creds(stack)), MemoryTokenStore(), transport=transport
    )
    job = await client.submit(job_body())
    await client.show(job[Job.ID])
    await client.show(job[Job.ID])
    assert transport.logins == 1

    expire_tokens(stack)
    assert (await client.show(job[Job.ID]))[Job.ID] == job[Job.ID]
    assert transport.logins == 2
    await client.aclose()


async def test_a_second_instance_reuses_the_shared_token_without_logging_in(
    stack: LocalStack,
) -> None:
    secret_id = new_secret(stack, {}).secret_id
    first, first_transport = shared_client(stack, secret_id)
    job = await first.submit(job_body())
    second, second_transport = shared_client(stack, secret_id)  # a cold instance
    assert (await second.show(job[Job.ID]))[Job.ID] == job[Job.ID]
    assert (first_transport.logins, second_transport.logins) == (1, 0)
    await first.aclose()
    await second.aclose()


async def test_credentials_from_a_secret_and_bad_ones_are_refused_without_the_password(
    stack: LocalStack,
) -> None:
    secret = new_secret(
        stack, {"address": stack.emulator_url, "username": stack.username, "password": "wrong-pw"}
    )
    client = OpCenterClient(SecretCredentials(secret), MemoryTokenStore())
    with pytest.raises(OpCenterError) as err:
        await client.show("abcdefghij0123456789K")
    assert err.value.code == Code.FAILED_PRECONDITION
    assert "rejected the credentials" in err.value.message
    assert "wrong-pw" not in err.value.message and "wrong-pw" not in repr(err.value)
    await client.aclose()


async def test_an_unreachable_opcenter_is_unavailable_quickly() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket closes
    client = OpCenterClient(
        StaticCredentials(Credentials(f"http://127.0.0.1:{port}", "u", "p")),
        MemoryTokenStore(),
        timeout=2.0,
    )
    started = time.monotonic()
    with pytest.raises(OpCenterError) as err:
        await client.show("abcdefghij0123456789K")
    assert err.value.code == Code.UNAVAILABLE
    assert "cannot reach OpCenter" in err.value.message
    assert time.monotonic() - started < 2.5
    await client.aclose()


async def test_a_warm_instance_adopts_the_token_another_renewed_instead_of_logging_in(
    stack: LocalStack,
) -> None:
    secret_id = new_secret(stack, {}).secret_id
    (first, first_t), (second, second_t) = (shared_client(stack, secret_id) for _ in range(2))
    job = await first.submit(job_body())
    await second.show(job[Job.ID])  # both now hold the same token in memory
    expire_tokens(stack)
    await first.show(job[Job.ID])  # renews it and shares the new one
    assert (await second.show(job[Job.ID]))[Job.ID] == job[Job.ID]
    assert (first_t.logins, second_t.logins) == (2, 0)
    await first.aclose()
    await second.aclose()


async def test_a_shared_token_that_expired_too_leads_to_a_login_in_the_same_call(
    stack: LocalStack,
) -> None:
    secret_id = new_secret(stack, {}).secret_id
    (first, _), (second, second_t) = (shared_client(stack, secret_id) for _ in range(2))
    job = await first.submit(job_body())
    await second.show(job[Job.ID])
    expire_tokens(stack)
    await first.show(job[Job.ID])  # the secret now holds a newer token...
    expire_tokens(stack)  # ...which expires too
    assert (await second.show(job[Job.ID]))[Job.ID] == job[Job.ID]
    assert second_t.logins == 1
    await first.aclose()
    await second.aclose()


async def test_an_unusable_token_secret_costs_logins_not_requests(
    stack: LocalStack, caplog: pytest.LogCaptureFixture
) -> None:
    missing = JsonSecret(f"test/missing-{uuid.uuid4()}", secrets_manager_client(stack.moto_url))
    transport = CountingTransport()
    client = OpCenterClient(
        StaticCredentials(creds(stack)), SecretTokenStore(missing), transport=transport
    )
    job = await client.submit(job_body())
    assert (await client.show(job[Job.ID]))[Job.ID] == job[Job.ID]
    assert transport.logins == 1  # the token is still kept in memory
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("cannot read the shared OpCenter token" in w for w in warnings)
    assert any("cannot share the new OpCenter token" in w for w in warnings)
    await client.aclose()


async def test_rotated_credentials_are_used_in_the_call_that_finds_the_old_ones_refused(
    stack: LocalStack,
) -> None:
    secret = new_secret(
        stack, {"address": stack.emulator_url, "username": stack.username, "password": "old-pw"}
    )
    credentials = SecretCredentials(secret)
    await credentials.get()  # cached, as in a warm instance
    secrets_manager_client(stack.moto_url).put_secret_value(
        SecretId=secret.secret_id,
        SecretString=json.dumps(
            {"address": stack.emulator_url, "username": stack.username, "password": stack.password}
        ),
    )
    transport = CountingTransport()
    client = OpCenterClient(credentials, MemoryTokenStore(), transport=transport)
    job = await client.submit(job_body())
    assert job[Job.ID]
    assert transport.logins == 2  # refused with the old password, accepted with the new one
    await client.aclose()
