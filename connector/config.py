"""Settings read from the environment, once per process (module scope in the Lambda)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from connector.errors import ConfigurationError
from connector.opcenter import wire

DEFAULT_TIMEOUT_SECONDS = 8.0  # under FlytePropeller's 10 s per-call deadline


@dataclass(frozen=True)
class Settings:
    """Where the OpCenter credentials and the shared session token live, and how to reach OpCenter.

    Credentials come from the Secrets Manager secret ``credentials_secret`` when it is set,
    else from ``MMC_ADDRESS``/``MMC_USERNAME``/``MMC_PASSWORD`` (handy on a laptop). The token
    is shared through ``token_secret``; without it each process keeps its own in memory.
    """

    credentials_secret: str | None = None
    token_secret: str | None = None
    address: str | None = None
    username: str | None = None
    password: str | None = None
    verify: bool | str = True
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    # OpCenter's undocumented parts, correctable without a release (see connector.opcenter.wire).
    log_path: str = wire.LOG_PATH_TEMPLATE
    metrics_path: str = wire.METRICS_PATH_TEMPLATE
    console_url: str = wire.CONSOLE_URL_TEMPLATE

    def __repr__(self) -> str:  # the password never appears in logs or tracebacks
        return (
            f"Settings(credentials_secret={self.credentials_secret!r}, "
            f"token_secret={self.token_secret!r}, address={self.address!r}, "
            f"username={self.username!r}, verify={self.verify!r}, timeout={self.timeout!r}, "
            f"log_path={self.log_path!r}, metrics_path={self.metrics_path!r}, "
            f"console_url={self.console_url!r})"
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            credentials_secret=env.get("MMC_CREDENTIALS_SECRET") or None,
            token_secret=env.get("MMC_TOKEN_SECRET") or None,
            address=env.get("MMC_ADDRESS") or None,
            username=env.get("MMC_USERNAME") or None,
            password=env.get("MMC_PASSWORD") or None,
            verify=parse_verify(env.get("MMC_VERIFY", "true")),
            timeout=_positive_float("MMC_TIMEOUT_SECONDS", env.get("MMC_TIMEOUT_SECONDS")),
            log_path=_template(env, "MMC_LOG_PATH", wire.LOG_PATH_TEMPLATE, "job_id", "name"),
            metrics_path=_template(env, "MMC_METRICS_PATH", wire.METRICS_PATH_TEMPLATE, "job_id"),
            console_url=_template(
                env, "MMC_CONSOLE_URL", wire.CONSOLE_URL_TEMPLATE, "address", "job_id"
            ),
        )


def parse_verify(value: str) -> bool | str:
    """``true``/``false`` or the path of a CA bundle (OpCenter often has a self-signed cert)."""
    lowered = value.strip().lower()
    if lowered in {"", "1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    return value.strip()


def _positive_float(name: str, raw: str | None) -> float:
    if raw is None or raw.strip() == "":
        return DEFAULT_TIMEOUT_SECONDS
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a number of seconds") from None
    if value <= 0:
        raise ConfigurationError(f"{name} must be positive, got {raw!r}")
    return value


def _template(env: Mapping[str, str], name: str, default: str, *fields: str) -> str:
    """A format string that must use exactly the placeholders it is given."""
    value = env.get(name) or default
    try:
        value.format(**{f: "x" for f in fields})
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigurationError(
            f"{name}={value!r} may only use the placeholders "
            + ", ".join("{" + f + "}" for f in fields)
            + f" ({type(exc).__name__}: {exc})"
        ) from None
    return value
