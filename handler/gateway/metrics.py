"""Prometheus metrics of the gateway: what operators of ``pyflyte serve connector`` expect to see.

Per RPC and task type (a served one or ``other``, so callers cannot add label sets): requests,
failures by gRPC code, latency; plus upstream retries and calls in flight. Each gateway owns a
registry (not the process-global one), so tests can run several.
"""

from __future__ import annotations

from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

PREFIX = "mmcloud_gateway"

#: From a fast GetTask (tens of ms) to a cold Lambda CreateTask (seconds) to a deadline.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class GatewayMetrics:
    """The gateway's counters; ``serve(port)`` exposes them on ``/metrics``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            f"{PREFIX}_requests",
            "gRPC calls received, by RPC and task type",
            ["rpc", "task_type"],
            registry=self.registry,
        )
        self.failures = Counter(
            f"{PREFIX}_failures",
            "gRPC calls that ended with a code other than OK, by code",
            ["rpc", "task_type", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            f"{PREFIX}_request_duration_seconds",
            "time from receiving a gRPC call to its last message or error",
            ["rpc", "task_type"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.retries = Counter(
            f"{PREFIX}_upstream_retries",
            "HTTP attempts repeated after a connection error or 429/502/503/504",
            ["rpc"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            f"{PREFIX}_in_flight",
            "gRPC calls being forwarded right now",
            ["rpc"],
            registry=self.registry,
        )
        self._server: WSGIServer | None = None

    def record(
        self, rpc: str, task_type: str, code_name: str, seconds: float, attempts: int
    ) -> None:
        """One finished call."""
        self.requests.labels(rpc, task_type).inc()
        if code_name != "OK":
            self.failures.labels(rpc, task_type, code_name).inc()
        self.latency.labels(rpc, task_type).observe(seconds)
        if attempts > 1:
            self.retries.labels(rpc).inc(attempts - 1)

    def serve(self, port: int, host: str = "0.0.0.0") -> int:
        """Start the ``/metrics`` HTTP server in a thread; return its port."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        self._server = server
        return int(server.server_port)

    def stop(self) -> None:
        server = self._server
        if server is not None:
            self._server = None
            server.shutdown()
            server.server_close()
