"""Logs, metrics and optional traces of the Lambda function, with AWS Lambda Powertools.

Active only inside Lambda (``AWS_LAMBDA_FUNCTION_NAME`` is set, as under ``sam local`` too): a
local server or a test keeps its plain-text logs, writes no metrics and never imports Powertools.

- **Logs**: the ``handler`` and ``connector`` loggers write JSON lines carrying ``correlation_id``
  (the caller's ``x-correlation-id`` header, else the API's request id, echoed back in that
  header), ``cold_start`` and ``function_request_id``, and one line per request. Events, bodies
  and headers are never logged: an event carries the caller's signature, and secret values stay
  inside ``connector/secrets.py``, whose errors name the secret, never its content.
- **Metrics** (CloudWatch EMF, namespace ``POWERTOOLS_METRICS_NAMESPACE``, dimension
  ``service``), written when an invocation ends: ``Requests``, ``ColdStart``, ``OpCenterLatency``
  (ms per HTTP call), ``OpCenterLogins`` and ``OpCenterLoginsRejected``; and ``Failures`` with a
  ``code`` dimension (the gRPC code name), one EMF line each.
- **Traces**: ``MMC_TRACING=true`` turns on the Powertools Tracer (X-Ray, botocore and httpx
  patched). Importing it costs about 0.3 s of cold start, so it is off unless asked for.

SnapStart: what is built at import holds no connection and no unique id, so a snapshot of it can
be restored any number of times.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from connector import telemetry
from connector.errors import Code

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger, Metrics
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]

CORRELATION_HEADER = "x-correlation-id"
SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "mmcloud-connector"
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "MMCloudConnector"
IN_LAMBDA = bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))
TRACING = os.environ.get("MMC_TRACING", "").strip().lower() in {"1", "true", "yes", "on"}
#: The loggers whose records become JSON lines (everything this project and its HTTP client log).
JSON_LOGGERS = ("handler", "connector", "httpx")
_MAX_ERROR_BODY = 4096
_MAX_CORRELATION_ID = 128

log = logging.getLogger("handler.observability")


class Powertools:
    """The Powertools objects of this process; built once, at import, only inside Lambda."""

    def __init__(self, *, tracing: bool) -> None:
        from aws_lambda_powertools import Logger, Metrics
        from aws_lambda_powertools.metrics import MetricUnit

        self.logger: Logger = Logger(service=SERVICE)
        self.metrics: Metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
        self.count = MetricUnit.Count
        self.milliseconds = MetricUnit.Milliseconds
        self.cold_start = True
        for name in JSON_LOGGERS:
            target = logging.getLogger(name)
            target.handlers = [self.logger.registered_handler]
            target.setLevel(self.logger.log_level)
            target.propagate = False
        logging.getLogger("mangum.http").setLevel(logging.WARNING)  # our request line replaces it
        logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per OpCenter call is noise
        self.tracer: Any = None
        if tracing:
            from aws_lambda_powertools import Tracer

            self.tracer = Tracer(service=SERVICE, patch_modules=("botocore", "httpx"))

    # connector.telemetry.TelemetrySink
    def opcenter_call(self, method: str, seconds: float, status: int | None) -> None:
        self.metrics.add_metric(name="OpCenterLatency", unit=self.milliseconds, value=seconds * 1e3)

    def opcenter_login(self, accepted: bool) -> None:
        name = "OpCenterLogins" if accepted else "OpCenterLoginsRejected"
        self.metrics.add_metric(name=name, unit=self.count, value=1)

    def record_request(self, rpc: str, status: int, failure: str | None, seconds: float) -> None:
        from aws_lambda_powertools.metrics import single_metric

        self.metrics.add_metric(name="Requests", unit=self.count, value=1)
        if failure is not None:
            with single_metric(
                name="Failures",
                unit=self.count,
                value=1,
                namespace=NAMESPACE,
                default_dimensions={"service": SERVICE},
            ) as metric:
                metric.add_dimension(name="code", value=failure)
        log.info(
            "%s answered %d%s in %.0f ms",
            rpc,
            status,
            f" {failure}" if failure else "",
            seconds * 1e3,
            extra={
                "rpc": rpc,
                "status": status,
                "code": failure,
                "duration_ms": round(seconds * 1e3, 1),
            },
        )


powertools: Powertools | None = Powertools(tracing=TRACING) if IN_LAMBDA else None
if powertools is not None:
    telemetry.set_sink(powertools)


class ObservabilityMiddleware:
    """Per request: the correlation id, the request metrics and one log line (in Lambda)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tools = powertools
        if tools is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        correlation_id = correlation_id_of(scope)
        tools.logger.set_correlation_id(correlation_id)
        started = time.perf_counter()
        status = 500
        error_body = bytearray()

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if correlation_id:
                    message["headers"] = [
                        *message.get("headers", []),
                        (CORRELATION_HEADER.encode(), correlation_id.encode("latin-1", "replace")),
                    ]
            elif message["type"] == "http.response.body" and status >= 400:
                error_body.extend(message.get("body", b"")[: _MAX_ERROR_BODY - len(error_body)])
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        except Exception:  # the app's catch-all handler answers 500 outside this middleware
            elapsed = time.perf_counter() - started
            tools.record_request(_rpc(scope), 500, Code.INTERNAL.name, elapsed)
            raise
        failure = failure_code(status, bytes(error_body)) if status >= 400 else None
        tools.record_request(_rpc(scope), status, failure, time.perf_counter() - started)


def instrument_handler(handler: LambdaHandler) -> LambdaHandler:
    """Wrap the Lambda entry point: cold start, request id, metrics flush, optional tracing."""
    tools = powertools
    if tools is None:
        return handler

    @functools.wraps(handler)
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        tools.logger.append_keys(
            cold_start=tools.cold_start,
            function_request_id=getattr(context, "aws_request_id", None),
            correlation_id=None,
        )
        if tools.cold_start:
            tools.metrics.add_metric(name="ColdStart", unit=tools.count, value=1)
            tools.cold_start = False
        try:
            return handler(event, context)
        finally:
            if tools.metrics.metric_set:
                tools.metrics.flush_metrics()

    if tools.tracer is not None:
        traced: LambdaHandler = tools.tracer.capture_lambda_handler(
            lambda_handler, capture_response=False
        )
        return traced
    return lambda_handler


def correlation_id_of(scope: Scope) -> str | None:
    """The caller's ``x-correlation-id``, else the request id of the Lambda event (Mangum)."""
    for name, value in scope.get("headers", []):
        if name == CORRELATION_HEADER.encode():
            return value.decode("latin-1")[:_MAX_CORRELATION_ID] or None
    context = (scope.get("aws.event") or {}).get("requestContext") or {}
    request_id = context.get("requestId")
    return str(request_id) if request_id else None


def failure_code(status: int, body: bytes) -> str:
    """The gRPC code name of an error response, else HTTP_<n>. The body is a google.rpc.Status,
    or on a streaming route an NDJSON line ``{"error": Status}``."""
    try:
        error = json.loads(body.split(b"\n", 1)[0])
        if isinstance(error, dict) and isinstance(error.get("error"), dict):
            error = error["error"]
        return Code(error["code"]).name
    except (ValueError, KeyError, TypeError):
        return f"HTTP_{status}"


def _rpc(scope: Scope) -> str:
    route = scope.get("route")
    return str(getattr(route, "name", None) or scope.get("path", "?"))
