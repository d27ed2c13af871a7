"""Hooks through which the connector reports its OpCenter calls and logins.

The connector stays free of any metrics library: the Lambda handler installs a sink that writes
CloudWatch metrics (``handler/observability.py``); everywhere else (a local server, the flytekit
adapter, tests) the default sink does nothing. A sink that raises never fails a request.
"""

from __future__ import annotations

import logging
from typing import Protocol

log = logging.getLogger(__name__)


class TelemetrySink(Protocol):
    def opcenter_call(self, method: str, seconds: float, status: int | None) -> None:
        """One HTTP call to OpCenter took ``seconds``; ``status`` is None if it got no answer."""

    def opcenter_login(self, accepted: bool) -> None:
        """A login to OpCenter was made; ``accepted`` is False if it rejected the credentials."""


class SilentSink:
    def opcenter_call(self, method: str, seconds: float, status: int | None) -> None:
        pass

    def opcenter_login(self, accepted: bool) -> None:
        pass


_sink: TelemetrySink = SilentSink()


def set_sink(sink: TelemetrySink | None) -> None:
    """Install ``sink`` for this process (None restores the silent default)."""
    global _sink
    _sink = sink if sink is not None else SilentSink()


def opcenter_call(method: str, seconds: float, status: int | None) -> None:
    try:
        _sink.opcenter_call(method, seconds, status)
    except Exception:
        log.debug("telemetry sink failed", exc_info=True)


def opcenter_login(accepted: bool) -> None:
    try:
        _sink.opcenter_login(accepted)
    except Exception:
        log.debug("telemetry sink failed", exc_info=True)
