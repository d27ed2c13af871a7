"""One ``key=value`` log line per forwarded call, and the formatter for the gateway's whole log.

A line says which RPC, task type, code, how long and how many HTTP attempts; for errors, the
status message. It never carries a request or response body, a signature or a credential: the
messages come from the API's ``google.rpc.Status``, which the connector keeps free of secrets.
"""

from __future__ import annotations

import logging
import time
from typing import Any

LOGGER_NAME = "mmcloud.gateway"
log = logging.getLogger(LOGGER_NAME)

#: Error messages are clipped in the log (the caller still gets the whole message).
MAX_LOGGED_MESSAGE = 300


def format_value(value: Any) -> str:
    """Bare when safe, else double-quoted with ``\\`` and ``"`` escaped (logfmt style)."""
    if isinstance(value, float):
        return f"{value:.1f}"
    text = str(value)
    if text and not any(c in text for c in ' "=\\\n\t'):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def format_fields(fields: dict[str, Any]) -> str:
    return " ".join(f"{key}={format_value(value)}" for key, value in fields.items())


class KeyValueFormatter(logging.Formatter):
    """``ts=... level=... logger=... <fields>``; records without fields get ``msg="..."``."""

    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        head = f"ts={ts}.{int(record.msecs):03d}Z level={record.levelname} logger={record.name}"
        fields = getattr(record, "fields", None)
        body = (
            format_fields(fields)
            if isinstance(fields, dict)
            else format_fields({"msg": record.getMessage()})
        )
        line = f"{head} {body}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(level: str) -> None:
    """Key=value lines on stderr; httpx's per-request lines off (they repeat ours, with URLs)."""
    handler = logging.StreamHandler()
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def log_event(level: int, event: str, **fields: Any) -> None:
    """A line of ``event=<event>`` and ``fields``."""
    log.log(level, event, extra={"fields": {"event": event, **fields}})


def log_call(
    *,
    rpc: str,
    task_type: str,
    code_name: str,
    seconds: float,
    attempts: int,
    http_status: int | None,
    message: str = "",
    messages_sent: int | None = None,
) -> None:
    """The one line per call."""
    fields: dict[str, Any] = {
        "rpc": rpc,
        "task_type": task_type or "-",
        "code": code_name,
        "duration_ms": seconds * 1000.0,
        "attempts": attempts,
        "http_status": http_status if http_status is not None else "-",
    }
    if messages_sent is not None:
        fields["messages"] = messages_sent
    if code_name != "OK" and message:
        clipped = (
            message if len(message) <= MAX_LOGGED_MESSAGE else message[:MAX_LOGGED_MESSAGE] + "..."
        )
        fields["error"] = clipped
    log_event(logging.INFO if code_name == "OK" else logging.WARNING, "call", **fields)
