"""The gateway's settings: command-line flags, else ``MMCLOUD_GATEWAY_*`` variables, else defaults.

A pod gets its configuration from environment variables (the Deployment manifest); a person
running it by hand uses flags. Both spellings come from one table, so they cannot disagree.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, fields
from typing import Any
from urllib.parse import urlsplit

ENV_PREFIX = "MMCLOUD_GATEWAY_"

#: Propeller's own default per-call timeout toward a connector (its ``defaultTimeout``).
DEFAULT_DEADLINE_S = 10.0


@dataclass(frozen=True)
class GatewaySettings:
    """Everything the gateway needs to run; see ``mmcloud-gateway --help`` for each one."""

    target_url: str
    host: str = "0.0.0.0"
    port: int = 8000
    unsigned: bool = False
    sigv4_service: str = ""  # "" = from the target host (lambda-url -> lambda, execute-api)
    sigv4_region: str = ""  # "" = from the target host, else the botocore default region
    default_deadline_s: float = DEFAULT_DEADLINE_S
    retries: int = 3
    metrics_port: int = 9090  # 0 = no metrics endpoint
    log_level: str = "INFO"
    shutdown_grace_s: float = 20.0
    keepalive_time_s: float = 30.0
    keepalive_timeout_s: float = 10.0
    max_connection_idle_s: float = 300.0
    max_connection_age_s: float = 1800.0

    def __post_init__(self) -> None:
        parts = urlsplit(self.target_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"target URL {self.target_url!r} must be http(s)://host[:port][/base-path]"
            )
        if parts.query or parts.fragment:
            raise ValueError(f"target URL {self.target_url!r} must not have a query or fragment")
        for name in ("port", "metrics_port"):
            value = getattr(self, name)
            if not 0 <= value <= 65535:
                raise ValueError(f"{name} must be a TCP port (0-65535), got {value}")
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, got {self.retries}")
        for name in (
            "default_deadline_s",
            "keepalive_time_s",
            "keepalive_timeout_s",
            "max_connection_idle_s",
            "max_connection_age_s",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.shutdown_grace_s < 0:
            raise ValueError(f"shutdown_grace_s must be >= 0, got {self.shutdown_grace_s}")

    @property
    def target_base(self) -> str:
        """The target URL without a trailing slash; route paths are appended to it."""
        return self.target_url.rstrip("/")


# (field, flag, help). The environment variable is ENV_PREFIX + the flag's name in upper case:
# --default-deadline <-> MMCLOUD_GATEWAY_DEFAULT_DEADLINE.
_OPTIONS: tuple[tuple[str, str, str], ...] = (
    ("target_url", "--target-url",
     "base URL of the connector's HTTP API: a Lambda Function URL, an API Gateway stage URL "
     "(with its stage path), or http://127.0.0.1:8080 locally"),
    ("host", "--host", "address to listen on"),
    ("port", "--port", "gRPC port to listen on (0 picks a free one)"),
    ("unsigned", "--unsigned", "send requests unsigned (local use); default: SigV4-sign them"),
    ("sigv4_service", "--sigv4-service",
     "SigV4 service: 'lambda' (Function URL) or 'execute-api' (API Gateway); "
     "default: read from the target host"),
    ("sigv4_region", "--sigv4-region",
     "SigV4 region; default: read from the target host, else the AWS default region"),
    ("default_deadline_s", "--default-deadline",
     "seconds an HTTP call may take when the gRPC caller set no deadline"),
    ("retries", "--retries",
     "retries of idempotent calls (GET/DELETE) on connection errors and 429/502/503/504"),
    ("metrics_port", "--metrics-port", "Prometheus /metrics port (0 turns it off)"),
    ("log_level", "--log-level", "DEBUG, INFO, WARNING or ERROR"),
    ("shutdown_grace_s", "--shutdown-grace",
     "seconds in-flight calls get to finish after SIGTERM"),
    ("keepalive_time_s", "--keepalive-time",
     "seconds between server keepalive pings on an idle connection"),
    ("keepalive_timeout_s", "--keepalive-timeout",
     "seconds to wait for a keepalive ping's answer before closing the connection"),
    ("max_connection_idle_s", "--max-connection-idle",
     "close connections with no call for this many seconds (clients reconnect)"),
    ("max_connection_age_s", "--max-connection-age",
     "close connections older than this (spreads clients over new replicas)"),
)  # fmt: skip

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


_FLAGS = {name: flag for name, flag, _ in _OPTIONS}


def env_name(field_name: str) -> str:
    """The environment variable for a settings field (from its flag, so both read alike)."""
    return ENV_PREFIX + _FLAGS[field_name].lstrip("-").replace("-", "_").upper()


_CASTERS: dict[str, Any] = {"str": str, "int": int, "float": float}


def _kinds() -> dict[str, str]:
    """Field name -> annotation text (``from __future__ import annotations`` keeps them strings)."""
    return {f.name: str(f.type) for f in fields(GatewaySettings)}


def _convert(field_name: str, kind: str, text: str) -> Any:
    if kind == "bool":
        lowered = text.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(f"{env_name(field_name)} must be true or false, got {text!r}")
    caster = _CASTERS[kind]
    try:
        return caster(text)
    except ValueError:
        raise ValueError(f"{field_name}: {text!r} is not a valid {caster.__name__}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mmcloud-gateway",
        description="gRPC gateway: FlytePropeller's agent services -> the MMCloud connector's "
        "HTTP API, SigV4-signed. Every flag can also be set as an environment variable "
        f"{ENV_PREFIX}<NAME> (e.g. {env_name('target_url')}); flags win.",
    )
    kinds = _kinds()
    defaults = {f.name: f.default for f in fields(GatewaySettings)}
    for name, flag, text in _OPTIONS:
        default = defaults[name]
        shown = (
            "" if isinstance(default, bool) or default in ("", MISSING) else f"; default {default}"
        )
        help_text = f"{text} [env {env_name(name)}{shown}]"
        if kinds[name] == "bool":
            parser.add_argument(flag, dest=name, action="store_true", default=None, help=help_text)
        else:
            metavar = (
                "SECONDS" if name.endswith("_s") else flag.lstrip("-").replace("-", "_").upper()
            )
            parser.add_argument(flag, dest=name, default=None, metavar=metavar, help=help_text)
    return parser


def parse_settings(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> GatewaySettings:
    """Flags, else environment, else the dataclass defaults; raises ``SystemExit`` on bad input."""
    parser = build_parser()
    args = parser.parse_args(argv)
    env = os.environ if environ is None else environ
    kinds = _kinds()
    values: dict[str, Any] = {}
    try:
        for name, _flag, _text in _OPTIONS:
            given = getattr(args, name)
            if given is None and env_name(name) in env:
                given = env[env_name(name)]
            if given is None:
                continue
            values[name] = given if isinstance(given, bool) else _convert(name, kinds[name], given)
        if "target_url" not in values:
            parser.error(f"--target-url (or {env_name('target_url')}) is required")
        return GatewaySettings(**values)
    except ValueError as exc:
        parser.error(str(exc))
