"""The ``grpc.aio`` server: flyteidl's agent services built from the route table, plus health.

Every method of ``flyteidl.service.AsyncAgentService`` and ``AgentMetadataService`` is registered
from flyteidl's own service descriptors, each bound to its :class:`~handler.routes.Route` and one of
two generic behaviours (unary or server-streaming). Startup fails if flyteidl and the route table
disagree on a method, so a flyteidl upgrade cannot silently leave an RPC unserved.

Operations: keepalive settings that keep connections alive through idle-closing L7 proxies and
rebalance them over replicas, the standard ``grpc.health.v1`` service for Kubernetes' gRPC probes,
and a graceful stop (refuse new calls, drain in-flight ones for a grace period).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeAlias

import grpc
import httpx
from flyteidl.service import agent_pb2 as agent_service
from google.protobuf.message import Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from connector.errors import Code
from handler.agents import AGENT
from handler.gateway.calllog import log, log_call, log_event
from handler.gateway.forward import CallInfo, Forwarder, ForwardError, RetryPolicy
from handler.gateway.metrics import GatewayMetrics
from handler.gateway.settings import GatewaySettings
from handler.gateway.sigv4 import SigV4Signer
from handler.routes import BY_RPC, Route

#: The services FlytePropeller (v1) calls, by their full names.
SERVICES = ("flyteidl.service.AsyncAgentService", "flyteidl.service.AgentMetadataService")

#: Largest message either way. Lambda caps a synchronous response at 6 MB.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024

#: Task types that get their own metric label: the ones this deployment serves. Any other name is
#: chosen by the caller, so it is labelled ``other`` (one label set, however many names arrive);
#: the call's log line keeps the name as sent.
METRIC_TASK_TYPES = frozenset(AGENT.supported_task_types)
OTHER_TASK_TYPE = "other"

#: Task type names are clipped to this length in the log line.
MAX_LOGGED_TASK_TYPE = 64

GRPC_CODE: dict[int, grpc.StatusCode] = {code.value[0]: code for code in grpc.StatusCode}

ServicerContext: TypeAlias = grpc.aio.ServicerContext


def served_routes() -> dict[str, list[Route]]:
    """Service full name -> the routes of its methods, checked against flyteidl's descriptors."""
    served: dict[str, list[Route]] = {}
    for full_name in SERVICES:
        service = agent_service.DESCRIPTOR.services_by_name[full_name.rsplit(".", 1)[1]]
        routes = []
        for method in service.methods:
            route = BY_RPC.get(method.name)
            problem = (
                "has no route"
                if route is None
                else "takes another request type"
                if method.input_type.full_name != route.request.DESCRIPTOR.full_name
                else "returns another response type"
                if method.output_type.full_name != route.response.DESCRIPTOR.full_name
                else "disagrees on streaming"
                if method.server_streaming != route.streaming or method.client_streaming
                else None
            )
            if problem is not None or route is None:
                raise RuntimeError(f"{full_name}/{method.name} {problem} in handler.routes")
            routes.append(route)
        served[full_name] = routes
    return served


def task_type_of(request: Message) -> str:
    """The task type a request is about, for metrics and logs ("" for metadata calls)."""
    fields = request.DESCRIPTOR.fields_by_name
    if "template" in fields:
        return str(request.template.type)  # type: ignore[attr-defined]
    if "task_category" in fields:
        name = request.task_category.name  # type: ignore[attr-defined]
        return str(name or getattr(request, "task_type", ""))
    return ""


def task_type_label(task_type: str) -> str:
    """The metric label of ``task_type``: a served type, "" (metadata calls) or ``other``."""
    return task_type if not task_type or task_type in METRIC_TASK_TYPES else OTHER_TASK_TYPE


class _Call:
    """Bookkeeping of one call: in-flight gauge, then one metrics record and one log line."""

    def __init__(self, metrics: GatewayMetrics, route: Route, request: Message) -> None:
        self.metrics = metrics
        self.rpc = route.rpc
        self.task_type = task_type_of(request)[:MAX_LOGGED_TASK_TYPE]
        self.info = CallInfo()
        self.code = Code.OK
        self.message = ""
        self.started = time.monotonic()
        self.finished = False
        metrics.in_flight.labels(self.rpc).inc()

    def fail(self, code: Code, message: str) -> None:
        self.code, self.message = code, message

    def finish(self, *, streaming: bool) -> None:
        """Record the call once (an aborted call is recorded before its status is sent)."""
        if self.finished:
            return
        self.finished = True
        seconds = time.monotonic() - self.started
        self.metrics.in_flight.labels(self.rpc).dec()
        self.metrics.record(
            self.rpc,
            task_type_label(self.task_type),
            self.code.name,
            seconds,
            max(1, self.info.attempts),
        )
        log_call(
            rpc=self.rpc,
            task_type=self.task_type,
            code_name=self.code.name,
            seconds=seconds,
            attempts=self.info.attempts,
            http_status=self.info.http_status,
            message=self.message,
            messages_sent=self.info.messages if streaming else None,
        )


async def _abort(
    context: ServicerContext, call: _Call, error: ForwardError, *, streaming: bool
) -> None:
    call.fail(error.code, error.message)
    call.finish(streaming=streaming)  # grpc.aio sends the status inside abort()
    await context.abort(
        GRPC_CODE[int(error.code)], error.message, trailing_metadata=error.trailing_metadata()
    )


def _internal(exc: Exception) -> ForwardError:
    log.exception("unexpected error while forwarding")
    return ForwardError(Code.INTERNAL, f"gateway internal error ({type(exc).__name__})")


def unary_behavior(
    route: Route, forwarder: Forwarder, metrics: GatewayMetrics
) -> Callable[[Message, ServicerContext], Awaitable[Message]]:
    """The one unary behaviour, bound to ``route``."""

    async def behavior(request: Message, context: ServicerContext) -> Message:
        call = _Call(metrics, route, request)
        try:
            return await forwarder.unary(
                route, request, time_remaining=context.time_remaining(), info=call.info
            )
        except ForwardError as error:
            await _abort(context, call, error, streaming=False)
        except asyncio.CancelledError:
            call.fail(Code.CANCELLED, "the caller cancelled the call or its deadline passed")
            raise
        except Exception as exc:  # a bug of ours: the caller still gets a clean INTERNAL
            await _abort(context, call, _internal(exc), streaming=False)
        finally:
            call.finish(streaming=False)
        raise AssertionError("unreachable: context.abort raises")

    behavior.__name__ = route.rpc
    return behavior


def streaming_behavior(
    route: Route, forwarder: Forwarder, metrics: GatewayMetrics
) -> Callable[[Message, ServicerContext], AsyncIterator[Message]]:
    """The one server-streaming behaviour, bound to ``route``: yields each message as it comes
    (unlike ``pyflyte serve connector``, whose GetTaskLogs returns and sends nothing)."""

    async def behavior(request: Message, context: ServicerContext) -> AsyncIterator[Message]:
        call = _Call(metrics, route, request)
        try:
            async for message in forwarder.stream(
                route, request, time_remaining=context.time_remaining(), info=call.info
            ):
                yield message
        except ForwardError as error:
            await _abort(context, call, error, streaming=True)
        except (asyncio.CancelledError, GeneratorExit):
            call.fail(Code.CANCELLED, "the caller cancelled the call or its deadline passed")
            raise
        except Exception as exc:
            await _abort(context, call, _internal(exc), streaming=True)
        finally:
            call.finish(streaming=True)

    behavior.__name__ = route.rpc
    return behavior


def method_handlers(
    forwarder: Forwarder, metrics: GatewayMetrics
) -> dict[str, dict[str, grpc.RpcMethodHandler]]:
    """Service full name -> method name -> handler, for every served RPC."""
    table: dict[str, dict[str, grpc.RpcMethodHandler]] = {}
    for service, routes in served_routes().items():
        handlers: dict[str, grpc.RpcMethodHandler] = {}
        for route in routes:
            if route.streaming:
                handlers[route.rpc] = grpc.unary_stream_rpc_method_handler(
                    streaming_behavior(route, forwarder, metrics),
                    request_deserializer=route.request.FromString,
                    response_serializer=route.response.SerializeToString,
                )
            else:
                handlers[route.rpc] = grpc.unary_unary_rpc_method_handler(
                    unary_behavior(route, forwarder, metrics),
                    request_deserializer=route.request.FromString,
                    response_serializer=route.response.SerializeToString,
                )
        table[service] = handlers
    return table


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def server_options(settings: GatewaySettings) -> list[tuple[str, int]]:
    """Channel arguments of the server.

    Server pings every ``keepalive_time`` keep idle connections from being cut by L7 proxies and
    NAT tables (AWS NLB/ALB idle timeouts are 350 s / 60 s); clients may ping us every 10 s even
    with no call in flight. Idle connections are closed after ``max_connection_idle`` and every
    connection after ``max_connection_age`` (with the shutdown grace to finish its calls), so a
    client spreads over replicas added since it connected. ``so_reuseport`` is off so a second
    gateway on the same port fails instead of silently sharing it.
    """
    return [
        ("grpc.keepalive_time_ms", _ms(settings.keepalive_time_s)),
        ("grpc.keepalive_timeout_ms", _ms(settings.keepalive_timeout_s)),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.max_connection_idle_ms", _ms(settings.max_connection_idle_s)),
        ("grpc.max_connection_age_ms", _ms(settings.max_connection_age_s)),
        ("grpc.max_connection_age_grace_ms", _ms(max(settings.shutdown_grace_s, 1.0))),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.so_reuseport", 0),
    ]


def http_client(transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """One pooled client for the gateway's life; per-call timeouts come from the deadline."""
    return httpx.AsyncClient(
        transport=transport,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        timeout=httpx.Timeout(30.0),
    )


class Gateway:
    """A gateway server: ``await start()``, then ``await stop()`` (or ``run_until_signalled``)."""

    def __init__(
        self,
        settings: GatewaySettings,
        *,
        signer: SigV4Signer | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self.settings = settings
        if signer is None and not settings.unsigned:
            signer = SigV4Signer.from_default_chain(
                settings.target_url,
                service=settings.sigv4_service,
                region=settings.sigv4_region,
            )
        self.signer = signer
        self.metrics = metrics or GatewayMetrics()
        self._transport = transport
        self._server: grpc.aio.Server | None = None
        self._client: httpx.AsyncClient | None = None
        self._health = health.aio.HealthServicer()
        self.port = 0
        self.metrics_port = 0

    @property
    def address(self) -> str:
        host = "127.0.0.1" if self.settings.host in ("0.0.0.0", "", "[::]") else self.settings.host
        return f"{host}:{self.port}"

    async def start(self) -> int:
        """Bind, start serving, mark healthy; return the gRPC port."""
        settings = self.settings
        self._client = http_client(self._transport)
        forwarder = Forwarder(
            settings.target_base,
            client=self._client,
            signer=self.signer,
            default_deadline_s=settings.default_deadline_s,
            retry=RetryPolicy(retries=settings.retries),
        )
        server = grpc.aio.server(options=server_options(settings))
        for service, handlers in method_handlers(forwarder, self.metrics).items():
            server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(service, handlers),)
            )
            server.add_registered_method_handlers(service, handlers)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        port = server.add_insecure_port(f"{settings.host}:{settings.port}")
        if not port:
            raise OSError(f"cannot listen on {settings.host}:{settings.port}")
        await server.start()
        self._server = server
        self.port = port
        for name in ("", *SERVICES):
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        if settings.metrics_port:
            self.metrics_port = self.metrics.serve(settings.metrics_port, settings.host)
        signing = (
            "unsigned"
            if self.signer is None
            else f"sigv4 service={self.signer.service} region={self.signer.region}"
        )
        log_event(
            logging.INFO,
            "listening",
            address=f"{settings.host}:{port}",
            target=settings.target_base,
            signing=signing,
            metrics_port=self.metrics_port or "off",
        )
        return port

    async def stop(self, grace: float | None = None) -> None:
        """Stop taking calls, let in-flight ones finish within ``grace``.

        New calls, health checks included, are refused at once, so the NOT_SERVING set first
        only reaches open ``Health/Watch`` streams. Kubernetes does not need it: a terminating
        pod leaves the endpoints by itself, and the manifest's preStop sleep keeps the gateway
        serving until clients have noticed, before SIGTERM brings it here.
        """
        grace = self.settings.shutdown_grace_s if grace is None else grace
        if self._server is not None:
            await self._health.enter_graceful_shutdown()
            log_event(logging.INFO, "draining", grace_s=grace)
            await self._server.stop(grace)
            self._server = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self.metrics.stop()
        log_event(logging.INFO, "stopped")

    async def run_until_signalled(self) -> None:
        """Serve until SIGTERM (Kubernetes) or SIGINT, then stop gracefully."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        try:
            await stop.wait()
            log_event(logging.INFO, "signalled")
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
            await self.stop()
