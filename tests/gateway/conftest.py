"""Fixtures of the gateway tests; the servers themselves are in ``gateway_helpers``."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from gateway_helpers import Received, Reply, ScriptedHTTPServer


@pytest.fixture
def scripted() -> Iterator[Callable[[Callable[[Received], Reply]], ScriptedHTTPServer]]:
    """Start scripted servers inside a test: ``server = scripted(lambda received: Reply(...))``."""
    started: list[ScriptedHTTPServer] = []

    def start(respond: Callable[[Received], Reply]) -> ScriptedHTTPServer:
        server = ScriptedHTTPServer(respond).__enter__()
        started.append(server)
        return server

    yield start
    for server in started:
        server.__exit__()
