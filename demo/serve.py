"""``python -m demo --serve``: keep the local stack up after the examples, for a person to poke at.

The stack listens on free ports and the demo's jobs exist only in its emulator, so the README's
``curl`` lines need this: it prints them with the real addresses and a real job's ``resource_meta``.
"""

from __future__ import annotations

import shlex
import time

from demo.constants import TASK_TYPE, TASK_TYPE_VERSION
from demo.propeller import ExecutionResult
from demo.stack import LocalStack
from handler.codec import encode_path_bytes


def try_it_commands(stack: LocalStack, run: ExecutionResult) -> list[str]:
    """Copy-paste shell lines against ``stack`` for the job of ``run``."""
    task = f"{TASK_TYPE}/{TASK_TYPE_VERSION}"
    return [
        f"export APP={shlex.quote(stack.app_url)} GATEWAY={shlex.quote(stack.gateway_address)}",
        f"export META={encode_path_bytes(run.resource_meta)}   # {run.resource_meta.decode()}",
        "curl -s $APP/api/v1/agents",
        f'curl -s "$APP/api/v1/agent/task/{task}/$META"',
        f'curl -s "$APP/api/v1/agent/task/logs/{task}/$META?lines=20"',
        f'curl -s "$APP/api/v1/agent/task/metrics/{task}/$META'
        '?queries=EXECUTION_METRIC_USED_CPU_AVG&step=5s"',
        ".venv/bin/python -m handler.gateway.healthcheck --address $GATEWAY",
    ]


def serve_until_interrupted(stack: LocalStack, run: ExecutionResult) -> None:
    """Print how to reach the stack, then wait for Ctrl-C (the caller's ``with`` stops it)."""
    print(f"\nThe stack stays up until Ctrl-C (logs in {stack.log_dir}). In another terminal:")
    for line in try_it_commands(stack, run):
        print(f"  {line}")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\nStopping the stack ...")
