"""Real servers on loopback for the gateway tests (imported as ``gateway_helpers``).

* :class:`InProcessGateway` runs a :class:`handler.gateway.server.Gateway` (a real ``grpc.aio``
  server) on its own event loop in a thread, so tests call it with flyteidl's synchronous stubs
  exactly as a gRPC client would.
* :class:`ScriptedHTTPServer` is a tiny ``http.server`` that answers each request from a script
  (status, headers, body chunks with pauses) and records what it received, raw, and when a client
  hung up while it made one wait: the stand-in API for streaming, retry, deadline and SigV4 tests.
"""

from __future__ import annotations

import asyncio
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from flyteidl.service import agent_pb2_grpc

from handler.gateway.server import Gateway
from handler.gateway.settings import GatewaySettings


def gateway_settings(target_url: str, **overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "target_url": target_url,
        "host": "127.0.0.1",
        "port": 0,
        "unsigned": True,
        "metrics_port": 0,
        "shutdown_grace_s": 0.0,
    }
    values.update(overrides)
    return GatewaySettings(**values)


class InProcessGateway:
    """A gateway serving on a free loopback port from a background event loop."""

    def __init__(self, settings: GatewaySettings, **gateway_kwargs: Any) -> None:
        self.settings = settings
        self._kwargs = gateway_kwargs
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.gateway: Gateway
        self.channel: grpc.Channel

    def run(self, coroutine: Any, timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    async def _start(self) -> int:
        self.gateway = Gateway(self.settings, **self._kwargs)
        return await self.gateway.start()

    def __enter__(self) -> InProcessGateway:
        self._thread.start()
        port = self.run(self._start())
        self.address = f"127.0.0.1:{port}"
        self.channel = grpc.insecure_channel(self.address)
        self.tasks = agent_pb2_grpc.AsyncAgentServiceStub(self.channel)
        self.metadata = agent_pb2_grpc.AgentMetadataServiceStub(self.channel)
        return self

    def __exit__(self, *exc: object) -> None:
        self.channel.close()
        self.run(self.gateway.stop(grace=0))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self.loop.close()

    def metric(self, name: str, **labels: str) -> float:
        """A sample's value once no call is in flight: an aborted call's status reaches the
        client before the gateway records it, so a read right after the error could race."""
        registry = self.gateway.metrics.registry
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and any(
            sample.value
            for family in registry.collect()
            if family.name == "mmcloud_gateway_in_flight"
            for sample in family.samples
        ):
            time.sleep(0.01)
        value = registry.get_sample_value(name, labels)
        return 0.0 if value is None else value


@dataclass
class Received:
    """One request as it arrived: the raw request target (path and query, still %-encoded)."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    chunks: list[bytes] = field(default_factory=list)
    delay_before: float = 0.0
    pause_between: float = 0.0


class ScriptedHTTPServer:
    """HTTP/1.0 on loopback: each request gets ``respond(received)``; the body ends at close,
    so chunks reach the client as they are written."""

    def __init__(self, respond: Callable[[Received], Reply]) -> None:
        self.respond = respond
        self.received: list[Received] = []
        #: When (``time.monotonic()``) a client closed its connection during a ``delay_before``.
        self.hangups: list[float] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                got = Received(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                owner.received.append(got)
                reply = owner.respond(got)
                if reply.delay_before and self._hung_up_within(reply.delay_before):
                    owner.hangups.append(time.monotonic())
                    return
                try:
                    self.send_response(reply.status)
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    for i, chunk in enumerate(reply.chunks):
                        if i:
                            time.sleep(reply.pause_between)
                        self.wfile.write(chunk)
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the gateway gave up first: that is what some tests want

            def _hung_up_within(self, seconds: float) -> bool:
                """Wait ``seconds``, unless the client closes the connection first (it sends
                nothing more after its request, so the socket turns readable only at EOF)."""
                readable, _, _ = select.select([self.connection], [], [], seconds)
                if not readable:
                    return False
                try:
                    return self.connection.recv(1, socket.MSG_PEEK) == b""
                except ConnectionResetError:
                    return True

            do_GET = do_POST = do_DELETE = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> ScriptedHTTPServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
