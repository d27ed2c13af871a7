"""Async OpCenter REST client: login, submit, show, cancel, with one re-login on session expiry."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx

from connector import telemetry
from connector.credentials import Credentials, CredentialsSource, SecretCredentials
from connector.errors import Code, OpCenterAuthError, OpCenterError
from connector.opcenter import wire
from connector.tokens import TokenStore

log = logging.getLogger(__name__)

_CODE_BY_HTTP_STATUS = {
    400: Code.INVALID_ARGUMENT,
    403: Code.PERMISSION_DENIED,
    404: Code.NOT_FOUND,
    409: Code.ALREADY_EXISTS,
    429: Code.RESOURCE_EXHAUSTED,
}


class OpCenterClient:
    """Talks to one OpCenter, whose address comes with the credentials.

    The HTTP connection pool is bound to the running event loop and rebuilt if the loop changes
    (Mangum keeps one loop per Lambda instance; tests may use several).
    """

    def __init__(
        self,
        credentials: CredentialsSource,
        tokens: TokenStore,
        *,
        verify: bool | str = True,
        timeout: float = 8.0,
        log_path: str = wire.LOG_PATH_TEMPLATE,
        metrics_path: str = wire.METRICS_PATH_TEMPLATE,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._credentials = credentials
        self._tokens = tokens
        self._verify = verify
        self._timeout = timeout
        self._transport = transport
        self._log_path = log_path
        self._metrics_path = metrics_path
        self._http: httpx.AsyncClient | None = None
        self._http_loop: asyncio.AbstractEventLoop | None = None
        self._login_lock: asyncio.Lock | None = None

    # -- operations ---------------------------------------------------------------------------

    async def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self._json("POST", wire.JOBS_PATH, body)

    async def show(self, job_id: str) -> dict[str, Any]:
        return await self._json("GET", wire.job_path(job_id))

    async def cancel(self, job_id: str) -> dict[str, Any]:
        return await self._json("DELETE", wire.job_path(job_id))

    async def log_bytes(self, job_id: str, name: str) -> bytes:
        """One of the job's log files (``wire.STDOUT_LOG``, ``wire.STDERR_LOG``)."""
        path = wire.job_log_path(job_id, name, self._log_path)
        return (await self._authorized("GET", path, None)).content

    async def samples(self, job_id: str) -> list[dict[str, Any]]:
        """The job's resource-usage samples, oldest first."""
        data = await self._json("GET", wire.job_metrics_path(job_id, self._metrics_path))
        samples = data.get(wire.Sample.LIST_KEY)
        if not isinstance(samples, list):
            raise OpCenterError(f"OpCenter's metrics for job {job_id} hold no sample list")
        return [s for s in samples if isinstance(s, dict)]

    async def address(self) -> str:
        """OpCenter's base URL (it comes with the credentials)."""
        return (await self._credentials.get()).base_url

    async def login(self) -> str:
        """Log in and return the session token (also saved to the token store)."""
        creds = await self._credentials.get()
        token, _ = await self._login(creds, stale=None)
        return token

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # -- plumbing -----------------------------------------------------------------------------

    async def _json(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        resp = await self._authorized(method, path, body)
        try:
            data = resp.json()
        except ValueError:
            raise OpCenterError(
                f"OpCenter answered {method} {path} with something that is not JSON"
            ) from None
        if not isinstance(data, dict):
            raise OpCenterError(f"OpCenter answered {method} {path} with a non-object JSON")
        return data

    async def _authorized(self, method: str, path: str, body: Any) -> httpx.Response:
        creds = await self._credentials.get()
        token = await self._tokens.load(creds.base_url)
        if token is None:
            token, _ = await self._login(creds, stale=None)
        resp = await self._send(creds, method, path, body, token)
        # A token another instance renewed may have expired too; one we just got has not.
        for _ in range(2):
            if not _session_expired(resp):
                break
            log.info("OpCenter session expired; renewing it")
            token, fresh = await self._login(creds, stale=token)
            resp = await self._send(creds, method, path, body, token)
            if fresh:
                break
        if resp.is_success:
            return resp
        raise _error_from(resp, f"{method} {path}")

    async def _login(self, creds: Credentials, stale: str | None) -> tuple[str, bool]:
        """A token other than ``stale``, and whether it is fresh from a login of ours (else
        another coroutine or instance renewed it and it is worth a try)."""
        async with self._lock():
            current = await self._tokens.load(creds.base_url, newer_than=stale)
            if current is not None:
                return current, False
            return await self._log_in(creds, stale), True

    async def _log_in(self, creds: Credentials, stale: str | None, *, reread: bool = True) -> str:
        resp = await self._request(
            creds, "GET", wire.LOGIN_PATH, auth=(creds.username, creds.password)
        )
        if resp.status_code in (401, 403) or _error_code(resp) == wire.ErrorCode.BAD_CREDENTIALS:
            telemetry.opcenter_login(accepted=False)
            if reread and isinstance(self._credentials, SecretCredentials):
                # The secret may have been rotated since it was read: try its new value once.
                self._credentials.forget()
                rotated = await self._credentials.get()
                if rotated != creds and rotated.base_url == creds.base_url:
                    log.info("OpCenter refused the cached credentials; trying the rotated ones")
                    return await self._log_in(rotated, stale, reread=False)
            raise OpCenterAuthError(
                f"OpCenter at {creds.base_url} rejected the credentials of user {creds.username!r}",
                http_status=resp.status_code,
                error_code=_error_code(resp),
                code=Code.FAILED_PRECONDITION,
            )
        if not resp.is_success:
            raise _error_from(resp, "login")
        token = resp.headers.get(wire.TOKEN_HEADER)
        if not token:
            raise OpCenterError(f"OpCenter login succeeded but sent no {wire.TOKEN_HEADER} header")
        log.info("logged in to OpCenter at %s as %s", creds.base_url, creds.username)
        telemetry.opcenter_login(accepted=True)
        await self._tokens.save(creds.base_url, token, replaces=stale)
        return token

    async def _send(
        self, creds: Credentials, method: str, path: str, body: Any, token: str
    ) -> httpx.Response:
        return await self._request(
            creds, method, path, json=body, headers={wire.TOKEN_HEADER: token}
        )

    async def _request(
        self, creds: Credentials, method: str, path: str, **kwargs: Any
    ) -> httpx.Response:
        started, status = time.perf_counter(), None
        try:
            resp = await self._client().request(method, creds.base_url + path, **kwargs)
            status = resp.status_code
            return resp
        except httpx.TimeoutException:
            raise OpCenterError(
                f"OpCenter at {creds.base_url} did not answer {method} {path} "
                f"within {self._timeout:g} s",
                code=Code.UNAVAILABLE,
            ) from None
        except httpx.TransportError as exc:
            raise OpCenterError(
                f"cannot reach OpCenter at {creds.base_url}: {type(exc).__name__}",
                code=Code.UNAVAILABLE,
            ) from None
        finally:
            telemetry.opcenter_call(method, time.perf_counter() - started, status)

    def _client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._http is None or self._http_loop is not loop:
            self._http = httpx.AsyncClient(
                verify=self._verify, timeout=self._timeout, transport=self._transport
            )
            self._http_loop = loop
            self._login_lock = None
        return self._http

    def _lock(self) -> asyncio.Lock:
        self._client()  # make sure the lock belongs to the running loop
        if self._login_lock is None:
            self._login_lock = asyncio.Lock()
        return self._login_lock


def _error_code(resp: httpx.Response) -> int | None:
    try:
        data = resp.json()
    except ValueError:
        return None
    code = data.get(wire.ErrorBody.ERROR_CODE) if isinstance(data, dict) else None
    return code if isinstance(code, int) else None


def _error_message(resp: httpx.Response) -> str:
    try:
        data = resp.json()
    except ValueError:
        return resp.text[:200].strip() or resp.reason_phrase
    if isinstance(data, dict) and data.get(wire.ErrorBody.MESSAGE):
        return str(data[wire.ErrorBody.MESSAGE])[:500]
    return resp.reason_phrase


def _session_expired(resp: httpx.Response) -> bool:
    return resp.status_code == 401 or _error_code(resp) == wire.ErrorCode.SESSION_TIMEOUT


def _error_from(resp: httpx.Response, what: str) -> OpCenterError:
    status = resp.status_code
    code = _CODE_BY_HTTP_STATUS.get(status, Code.UNAVAILABLE if status >= 500 else Code.UNKNOWN)
    error_code = _error_code(resp)
    suffix = f", code {error_code}" if error_code is not None else ""
    return OpCenterError(
        f"OpCenter refused {what}: {_error_message(resp)} (HTTP {status}{suffix})",
        http_status=status,
        error_code=error_code,
        code=code,
    )
