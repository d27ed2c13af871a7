"""Run the pinned AWS SAM CLI: ``python infra/sam.py validate --region us-east-1``.

SAM runs through ``uv tool run`` in an environment of its own: its pins fight flytekit's, so it
cannot live in the project's venv. One pin here serves ``make build``, ``make validate`` and
``make events``. Telemetry is off (this machine reaches only package registries).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping

SAM_CLI_VERSION = "1.170.0"


def uv_command() -> list[str]:
    """``uv`` as the Makefile found it (``$UV``, maybe ``python3 -m uv``), else from PATH."""
    if os.environ.get("UV"):
        return shlex.split(os.environ["UV"])
    found = shutil.which("uv")
    return [found] if found else ["python3", "-m", "uv"]


def sam_command(python: str | None = None) -> list[str]:
    """``sam`` as a command line; ``python`` picks the interpreter of SAM's own environment."""
    interpreter = ["--python", python] if python else []
    return [
        *uv_command(), "tool", "run", *interpreter,
        "--from", f"aws-sam-cli=={SAM_CLI_VERSION}", "sam",
    ]  # fmt: skip


def sam_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env["SAM_CLI_TELEMETRY"] = "0"
    return env


if __name__ == "__main__":
    sys.exit(subprocess.call([*sam_command(), *sys.argv[1:]], env=sam_environment()))
