"""One gRPC call -> one HTTP exchange with the connector's API, driven by the route table.

The request becomes path, query and JSON body through :func:`handler.codec.http_from_request`,
the inverse of what the app parses, for whichever :class:`~handler.routes.Route` the RPC has. So
there is one generic unary forwarder and one streaming forwarder, and no per-RPC code.

What a caller (FlytePropeller) needs from this layer:

* **Deadlines.** The caller's remaining gRPC time bounds the whole HTTP exchange, retries and
  backoff included; with no caller deadline a configured default applies. We stop a little before
  the caller's deadline so the caller receives *our* answer (UNAVAILABLE with the cause) rather
  than its own DEADLINE_EXCEEDED.
* **Retries** only where repeating is harmless: GET and DELETE routes (GetTask, DeleteTask,
  GetTaskMetrics, GetTaskLogs, GetAgent, ListAgents), on connection errors and 429/502/503/504,
  with jittered exponential backoff, never past the deadline. CreateTask (POST) is never repeated:
  it has no idempotency key, and a create that reached the API but whose answer was lost would
  start a second MMCloud job (DESIGN section 2).
* **Status codes** from the explicit HTTP -> gRPC table in :mod:`handler.codec` (404 is NOT_FOUND;
  gRPC's own HTTP mapping would say UNIMPLEMENTED, which propeller misreads). The API's
  ``google.rpc.Status`` travels on: its message is the gRPC status message, and the whole Status is
  attached as the standard ``grpc-status-details-bin`` trailer.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import httpx
from google.protobuf import any_pb2, json_format
from google.protobuf.message import Message
from google.rpc import status_pb2

from connector.errors import Code, ConnectorError
from handler.codec import HTTP_STATUS_BY_CODE, code_for_http_status, http_from_request
from handler.gateway.sigv4 import CredentialsUnavailable, SigV4Signer
from handler.routes import Route

#: HTTP methods whose repetition cannot change the outcome (RFC 9110 section 9.2.2).
IDEMPOTENT_METHODS = frozenset({"GET", "DELETE"})

#: Trailer key of a serialised ``google.rpc.Status`` (what grpcio-status reads and writes).
STATUS_DETAILS_KEY = "grpc-status-details-bin"

#: Characters kept as they are in a path segment or query value; everything else is %-encoded.
#: SigV4 canonicalises with exactly this set, so the URL we send is the one AWS re-derives.
_UNRESERVED = "-_.~"

#: Not worth starting an HTTP attempt with less time than this left.
_MIN_ATTEMPT_S = 0.05

#: Error bodies quoted in a message are clipped to this many characters.
_SNIPPET = 200


def is_idempotent(route: Route) -> bool:
    return route.method in IDEMPOTENT_METHODS


class ForwardError(Exception):
    """A call that ends with a gRPC error: a code, a message, and any ``Status.details``."""

    def __init__(self, code: Code, message: str, details: Sequence[any_pb2.Any] = ()) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.details = list(details)

    def status(self) -> status_pb2.Status:
        return status_pb2.Status(code=int(self.code), message=self.message, details=self.details)

    def trailing_metadata(self) -> tuple[tuple[str, bytes], ...]:
        return ((STATUS_DETAILS_KEY, self.status().SerializeToString()),)


@dataclass
class CallInfo:
    """What the forwarder learned about one call, for its log line and metrics."""

    attempts: int = 0
    http_status: int | None = None
    messages: int = 0


@dataclass(frozen=True)
class RetryPolicy:
    """How idempotent calls are repeated; ``retries`` counts repeats after the first attempt."""

    retries: int = 3
    first_backoff_s: float = 0.1
    max_backoff_s: float = 2.0
    retry_statuses: frozenset[int] = frozenset({429, 502, 503, 504})

    def backoff_s(self, retry: int) -> float:
        """Exponential with jitter (half fixed, half random), so replicas do not retry in step."""
        ceiling = min(self.max_backoff_s, self.first_backoff_s * 2 ** (retry - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


@dataclass(frozen=True)
class PreparedCall:
    """The exact bytes of one HTTP request: what is signed is what is sent."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def strict_path(path: str) -> str:
    """``path`` with every segment %-encoded but for unreserved characters.

    The codec leaves base64 ``=`` padding bare; SigV4 (non-S3 services) signs the path encoded
    once more than it is sent, so a bare ``=`` would be signed as ``%3D`` where AWS derives
    ``%253D`` from the wire. Sending ``%3D`` makes both sides agree; the app decodes it back.
    """
    return "/".join(quote(unquote(segment), safe=_UNRESERVED) for segment in path.split("/"))


def query_string(query: Sequence[tuple[str, str]]) -> str:
    return "&".join(
        f"{quote(key, safe=_UNRESERVED)}={quote(value, safe=_UNRESERVED)}" for key, value in query
    )


def prepare(base_url: str, route: Route, request: Message) -> PreparedCall:
    """The HTTP request for ``request`` on ``route``, as the app expects it; a request that has
    no HTTP form (an empty path field) is the caller's error, as the app would say."""
    try:
        path, query, body = http_from_request(route, request)
    except ConnectorError as exc:
        raise ForwardError(exc.code, exc.message) from None
    url = base_url.rstrip("/") + strict_path(path)
    if query:
        url += "?" + query_string(query)
    headers = {"accept": "application/json"}
    content = b""
    if body is not None:
        content = json.dumps(body, separators=(",", ":")).encode()
        headers["content-type"] = "application/json"
    return PreparedCall(route.method, url, headers, content)


def _status_from_json(data: Any) -> status_pb2.Status | None:
    if not isinstance(data, dict) or not ({"code", "message"} & set(data)):
        return None
    status = status_pb2.Status()
    try:
        json_format.ParseDict(data, status, ignore_unknown_fields=True)
    except json_format.ParseError:
        # Details whose Any type we cannot resolve: keep code and message.
        status = status_pb2.Status(message=str(data.get("message", "")))
        if isinstance(data.get("code"), int):
            status.code = data["code"]
    return status


def _valid_code(number: int) -> Code | None:
    try:
        return Code(number)
    except ValueError:
        return None


def error_from_response(http_status: int, body: bytes, *, signed: bool) -> ForwardError:
    """The gRPC error for an HTTP error answer.

    The code comes from the explicit table; when the body is a ``google.rpc.Status`` whose code
    the app would have sent with this very HTTP status (400 carries INVALID_ARGUMENT and
    FAILED_PRECONDITION alike), that more precise code is kept. Bodies that are not a Status (an
    AWS 403, a proxy's 502 page) become a message naming the HTTP status and quoting the body.
    """
    code = code_for_http_status(http_status)
    try:
        data = json.loads(body) if body else None
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        data = data["error"]  # a stream that failed before its first message
    status = _status_from_json(data)
    if status is not None:
        claimed = _valid_code(status.code)
        if claimed not in (None, Code.OK) and HTTP_STATUS_BY_CODE.get(claimed) == http_status:
            assert claimed is not None
            code = claimed
        if status.message:
            return ForwardError(code, status.message, status.details)
    # AWS's own errors: Function URLs say {"Message": ...}, API Gateway {"message": ...}.
    aws_message = (data.get("Message") or data.get("message")) if isinstance(data, dict) else None
    snippet = str(aws_message) if aws_message else body.decode("utf-8", "replace").strip()
    message = f"HTTP {http_status} from the connector API"
    if snippet:
        message += ": " + snippet[:_SNIPPET]
    if http_status in (401, 403) and signed:
        message += (
            " (the request was SigV4-signed: does the gateway's IAM role allow "
            "lambda:InvokeFunctionUrl / execute-api:Invoke on this endpoint?)"
        )
    return ForwardError(code, message)


def _stream_error(data: Any) -> ForwardError:
    status = _status_from_json(data) or status_pb2.Status(message="malformed error line")
    code = _valid_code(status.code)
    if code is None or code == Code.OK:
        code = Code.UNKNOWN
    return ForwardError(
        code,
        status.message or "the stream reported an error without a message",
        status.details,
    )


class Forwarder:
    """Forwards calls to the API at ``base_url`` with ``client``, signing them if ``signer``."""

    def __init__(
        self,
        base_url: str,
        *,
        client: httpx.AsyncClient,
        signer: SigV4Signer | None = None,
        default_deadline_s: float = 10.0,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = client
        self._signer = signer
        self.default_deadline_s = default_deadline_s
        self.retry = retry or RetryPolicy()
        self._clock = clock
        self._host = urlsplit(base_url).netloc

    # -- budget ---------------------------------------------------------------------------------

    def answer_by(self, time_remaining: float | None) -> tuple[float, float]:
        """(budget in seconds, the monotonic time by which we must have answered)."""
        budget = self.default_deadline_s if time_remaining is None else max(0.0, time_remaining)
        # Answer a little early so our status, not the caller's timer, decides the outcome.
        margin = min(0.1, budget * 0.1)
        return budget, self._clock() + budget - margin

    def _deadline_error(self, route: Route, budget: float) -> ForwardError:
        return ForwardError(
            Code.DEADLINE_EXCEEDED,
            f"{route.rpc}: the connector API at {self._host} did not answer within the "
            f"{budget:.1f}s deadline",
        )

    # -- one exchange, with retries -------------------------------------------------------------

    async def _headers(self, route: Route, call: PreparedCall) -> dict[str, str]:
        if self._signer is None:
            return dict(call.headers)
        try:
            # Signing may refresh credentials (a blocking STS call): keep it off the event loop.
            return await asyncio.to_thread(
                self._signer.sign, call.method, call.url, call.headers, call.body
            )
        except CredentialsUnavailable as exc:
            raise ForwardError(Code.UNAVAILABLE, f"{route.rpc}: {exc}") from None

    def _may_retry(self, route: Route, attempt: int, delay: float, answer_by: float) -> bool:
        return (
            is_idempotent(route)
            and attempt <= self.retry.retries
            and self._clock() + delay + _MIN_ATTEMPT_S < answer_by
        )

    async def _exchange(
        self, route: Route, request: Message, time_remaining: float | None, info: CallInfo
    ) -> tuple[httpx.Response, float, float]:
        """Send until an answer that is final (or retries/time run out); the response is open
        for streaming and must be closed by the caller. Returns (response, budget, answer_by)."""
        call = prepare(self.base_url, route, request)
        budget, answer_by = self.answer_by(time_remaining)
        while True:
            info.attempts += 1
            remaining = answer_by - self._clock()
            if remaining <= 0:
                raise self._deadline_error(route, budget)
            failure: ForwardError | None = None
            response: httpx.Response | None = None
            try:
                async with asyncio.timeout(remaining):
                    headers = await self._headers(route, call)
                    outgoing = self._client.build_request(
                        call.method,
                        call.url,
                        headers=headers,
                        content=call.body or None,
                        timeout=httpx.Timeout(remaining),
                    )
                    response = await self._client.send(outgoing, stream=True)
                    info.http_status = response.status_code
                    if response.status_code >= 400:
                        await response.aread()
            except (TimeoutError, httpx.TimeoutException):
                if response is not None:
                    await response.aclose()
                raise self._deadline_error(route, budget) from None
            except httpx.TransportError as exc:
                if response is not None:
                    await response.aclose()
                    response = None
                failure = ForwardError(
                    Code.UNAVAILABLE,
                    f"{route.rpc}: cannot reach the connector API at {self._host} "
                    f"({type(exc).__name__}: {exc or 'no detail'})",
                )
            except BaseException:  # cancelled by the caller: do not leak the connection
                if response is not None:
                    await response.aclose()
                raise
            assert failure is not None or response is not None
            if response is not None and response.status_code not in self.retry.retry_statuses:
                return response, budget, answer_by
            delay = self.retry.backoff_s(info.attempts)
            if response is not None:
                delay = max(delay, _retry_after(response))
            if not self._may_retry(route, info.attempts, delay, answer_by):
                if failure is not None:
                    raise failure
                assert response is not None
                return response, budget, answer_by
            if response is not None:
                await response.aclose()
            await asyncio.sleep(delay)

    def _raise_for_status(self, response: httpx.Response) -> None:
        if response.status_code >= 300:
            raise error_from_response(
                response.status_code, response.content, signed=self._signer is not None
            )

    # -- the two shapes of RPC ------------------------------------------------------------------

    async def unary(
        self,
        route: Route,
        request: Message,
        *,
        time_remaining: float | None,
        info: CallInfo | None = None,
    ) -> Message:
        """Forward a unary call; return the response message or raise :class:`ForwardError`."""
        info = info if info is not None else CallInfo()
        response, budget, answer_by = await self._exchange(route, request, time_remaining, info)
        try:
            remaining = answer_by - self._clock()
            try:
                async with asyncio.timeout(max(0.0, remaining)):
                    await response.aread()
            except (TimeoutError, httpx.TimeoutException):
                raise self._deadline_error(route, budget) from None
            except httpx.TransportError as exc:
                raise ForwardError(
                    Code.UNAVAILABLE, f"{route.rpc}: the answer was cut off ({exc})"
                ) from None
        finally:
            await response.aclose()
        self._raise_for_status(response)
        message = route.response()
        try:
            json_format.Parse(response.content, message, ignore_unknown_fields=True)
        except (json_format.ParseError, UnicodeDecodeError) as exc:
            raise ForwardError(
                Code.INTERNAL,
                f"{route.rpc}: the connector API answered with something that is not a "
                f"{route.response.DESCRIPTOR.name} ({exc})",
            ) from None
        info.messages = 1
        return message

    async def stream(
        self,
        route: Route,
        request: Message,
        *,
        time_remaining: float | None,
        info: CallInfo | None = None,
    ) -> AsyncIterator[Message]:
        """Forward a server-streaming call: yield each ``{"result": ...}`` line's message as it
        arrives; an ``{"error": Status}`` line ends the stream with that status."""
        info = info if info is not None else CallInfo()
        response, budget, answer_by = await self._exchange(route, request, time_remaining, info)
        try:
            self._raise_for_status(response)
            lines = response.aiter_lines()
            while True:
                remaining = answer_by - self._clock()
                if remaining <= 0:
                    raise self._deadline_error(route, budget)
                try:
                    async with asyncio.timeout(remaining):
                        line = await anext(lines)
                except StopAsyncIteration:
                    return
                except (TimeoutError, httpx.TimeoutException):
                    raise self._deadline_error(route, budget) from None
                except httpx.TransportError as exc:
                    raise ForwardError(
                        Code.UNAVAILABLE,
                        f"{route.rpc}: the stream was cut off after {info.messages} messages "
                        f"({type(exc).__name__})",
                    ) from None
                if not line.strip():
                    continue
                yield self._stream_message(route, line, info)
                info.messages += 1
        finally:
            await response.aclose()

    def _stream_message(self, route: Route, line: str, info: CallInfo) -> Message:
        try:
            data = json.loads(line)
        except ValueError:
            data = None
        if isinstance(data, dict) and "error" in data:
            raise _stream_error(data["error"])
        if not isinstance(data, dict) or "result" not in data:
            raise ForwardError(
                Code.INTERNAL,
                f"{route.rpc}: line {info.messages + 1} of the stream is not "
                '{"result": ...} or {"error": ...}',
            )
        message = route.response()
        try:
            json_format.ParseDict(data["result"], message, ignore_unknown_fields=True)
        except json_format.ParseError as exc:
            raise ForwardError(
                Code.INTERNAL,
                f"{route.rpc}: message {info.messages + 1} of the stream is not a "
                f"{route.response.DESCRIPTOR.name} ({exc})",
            ) from None
        return message


def _retry_after(response: httpx.Response) -> float:
    """``Retry-After`` in seconds when the API sent a number, else 0."""
    try:
        return max(0.0, float(response.headers.get("retry-after", "0")))
    except ValueError:
        return 0.0
