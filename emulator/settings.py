"""How one emulator instance is configured, shared by the CLI, the thread runner and the app."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

#: Environment variables the CLI reads its defaults from (command-line options win).
ENV_HOST = "MMC_EMULATOR_HOST"
ENV_PORT = "MMC_EMULATOR_PORT"
ENV_USERNAME = "MMC_EMULATOR_USERNAME"
ENV_PASSWORD = "MMC_EMULATOR_PASSWORD"
ENV_DATA_DIR = "MMC_EMULATOR_DATA_DIR"
ENV_TOKEN_TTL = "MMC_EMULATOR_TOKEN_TTL"
ENV_STEP_DELAY = "MMC_EMULATOR_STEP_DELAY"
#: Every emulator setting variable starts with this; jobs do not inherit them (the password!).
ENV_PREFIX = "MMC_EMULATOR_"

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8900
DEFAULT_USERNAME = "admin"
DEFAULT_PASSWORD = "emulator"
DEFAULT_TOKEN_TTL = 1800.0
DEFAULT_STEP_DELAY = 0.2

#: What the emulator reports as the job's machine; there is no cloud instance behind it.
INSTANCE_TYPE = "emulator.local"
WORKING_HOST = "127.0.0.1"


@dataclass(frozen=True)
class EmulatorSettings:
    """One emulator's knobs. ``password`` is kept out of ``repr`` so it never reaches a log."""

    username: str = DEFAULT_USERNAME
    password: str = field(default=DEFAULT_PASSWORD, repr=False)
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    #: Where job scripts, working directories and logs go; ``None`` lets the app make a temp dir.
    data_dir: Path | None = None
    #: Sliding session lifetime in seconds: every successful call renews the token.
    token_ttl: float = DEFAULT_TOKEN_TTL
    #: Pause between the pre-run statuses (Submitted, Initializing, Starting, Executing).
    step_delay: float = DEFAULT_STEP_DELAY
    #: How often a running job's process tree is sampled for CPU and memory.
    sample_interval: float = 0.5
    #: Between SIGTERM and SIGKILL when a job is cancelled.
    kill_grace: float = 2.0
    #: Emulated price of one core for one hour, used for the job's ``cost``.
    core_hour_usd: float = 0.05

    def __post_init__(self) -> None:
        for name in ("token_ttl", "sample_interval"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        for name in ("step_delay", "kill_grace", "core_hour_usd"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if not 0 <= self.port <= 65535:
            raise ValueError("port must be between 0 and 65535")
