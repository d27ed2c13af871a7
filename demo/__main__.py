"""``python -m demo``: run the example MMCloud tasks through the connector, end to end, locally.

FlytePropeller's part is played by :mod:`demo.propeller`; the connector app, the OpCenter emulator
and a moto Secrets Manager run on loopback (:mod:`demo.stack`). Two tasks run:

* ``word_stats`` must SUCCEED with the expected statistics, read back from ``outputs.pb``;
* ``fail_on_purpose(divisor=0)`` must FAIL, and its error is shown.

Exit status: 0 when both behave so, 1 when either does not, 2 when the stack or a call broke.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from flytekit.core.base_task import PythonTask

from demo.propeller import (
    ConnectorCallError,
    ConnectorClient,
    ExecutionResult,
    TaskTimeoutError,
    abort_task,
    follow_task,
    start_task,
)
from demo.stack import StackError, local_stack
from examples.workflows import compute_word_stats, fail_on_purpose, word_stats

DEFAULT_TEXT = "The quick brown fox jumps over the lazy dog"
#: What ``fail_on_purpose`` says when it fails; the demo looks for it in what Flyte gets back.
EXPECTED_ERROR_TEXT = "divisor must be non-zero"


def short_error(text: str | None, width: int = 200) -> str:
    """The last meaningful line of a Flyte error (``ValueError: ...``), shortened."""
    if not text:
        return ""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    return textwrap.shorten(lines[-1], width=width, placeholder=" ...")


def format_outputs(outputs: dict[str, Any]) -> str:
    return ", ".join(f"{name}={value!r}" for name, value in outputs.items())


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.splitlines()[0])
    parser.add_argument("--text", default=DEFAULT_TEXT, help="input of word_stats")
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for each task (default 120)"
    )
    parser.add_argument(
        "--work-dir", type=Path, default=None,
        help="keep the emulator data, logs and blobs here (default: a temp dir, removed after)",
    )  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="do not remove the temp work dir")
    return parser.parse_args(argv)


def run_one(
    client: ConnectorClient,
    task: PythonTask,
    inputs: dict[str, Any],
    blob_dir: Path,
    timeout: float,
) -> ExecutionResult:
    """Create and follow one task; if we stop waiting (timeout, Ctrl-C), abort it as propeller
    would, so no job outlives the demo."""
    started = start_task(client, task, inputs, blob_dir)
    try:
        return follow_task(client, started, timeout=timeout)
    except (TaskTimeoutError, KeyboardInterrupt):
        with contextlib.suppress(ConnectorCallError, httpx.HTTPError):
            abort_task(client, started)
        raise


def run_demo(args: argparse.Namespace) -> int:
    out = sys.stdout
    print("MMCloud connector demo: propeller (this process) -> connector app -> OpCenter emulator")
    print("Starting the local stack ...")
    started = time.monotonic()
    with local_stack(args.work_dir, keep=args.keep, status=out) as stack:
        print(f"  work dir            {stack.work_dir}")
        print(f"  stack up in {time.monotonic() - started:.1f}s")
        with ConnectorClient(stack.app_url) as client:
            agents = client.list_agents()
            served = sorted(
                f"{category.name} v{category.version}"
                for agent in agents.agents
                for category in agent.supported_task_categories
            )
            print(f"  agents: {', '.join(served) or '(none listed)'}")

            expected = dict(compute_word_stats(args.text)._asdict())
            print(f"\n1/2  word_stats(text={args.text!r})  expecting {format_outputs(expected)}")
            ok_run = run_one(client, word_stats, {"text": args.text}, stack.blob_dir, args.timeout)
            if ok_run.outputs is not None:
                print(f"  outputs: {format_outputs(ok_run.outputs)}")
            elif ok_run.error:
                print(f"  task error: {short_error(ok_run.error)}")

            print("\n2/2  fail_on_purpose(divisor=0)  expecting FAILED")
            bad_run = run_one(client, fail_on_purpose, {"divisor": 0}, stack.blob_dir, args.timeout)
            if bad_run.message:
                print("  Resource.message (what the Flyte console shows):")
                print(textwrap.indent(bad_run.message, "    "))
            if bad_run.error:
                print(f"  task error (error.pb): {short_error(bad_run.error, 400)}")

        ok = ok_run.phase == "SUCCEEDED" and ok_run.outputs == expected
        failed_as_expected = bad_run.phase == "FAILED"
        error_shown = EXPECTED_ERROR_TEXT in (bad_run.message + (bad_run.error or ""))
        print_summary(ok_run, ok, bad_run, failed_as_expected, error_shown, expected)
        if args.keep or args.work_dir:
            print(f"\nLogs and data kept in {stack.work_dir}")
    if ok and failed_as_expected:
        print("\nDemo passed.")
        return 0
    problems = []
    if not ok:
        problems.append(
            f"word_stats ended {ok_run.phase} with {ok_run.outputs!r}, "
            f"expected SUCCEEDED with {expected!r}"
        )
    if not failed_as_expected:
        problems.append(f"fail_on_purpose ended {bad_run.phase}, expected FAILED")
    print("\nDemo FAILED: " + "; ".join(problems), file=sys.stderr)
    return 1


def print_summary(
    ok_run: ExecutionResult,
    ok: bool,
    bad_run: ExecutionResult,
    failed_as_expected: bool,
    error_shown: bool,
    expected: dict[str, Any],
) -> None:
    print("\nSummary")
    verdict = "ok" if ok else "UNEXPECTED"
    if ok_run.outputs is not None:
        detail = format_outputs(ok_run.outputs)
    else:
        detail = short_error(ok_run.error, 100) or textwrap.shorten(ok_run.message, 100)
    print(f"  {verdict:<10} word_stats       {ok_run.phase:<10} {ok_run.elapsed_s:5.1f}s  {detail}")
    verdict = "ok" if failed_as_expected else "UNEXPECTED"
    detail = short_error(bad_run.error, 100) or textwrap.shorten(bad_run.message, 100)
    print(
        f"  {verdict:<10} fail_on_purpose  {bad_run.phase:<10} {bad_run.elapsed_s:5.1f}s  {detail}"
    )
    print(
        f"  phases seen: word_stats {' > '.join(ok_run.phases_seen)}; "
        f"fail_on_purpose {' > '.join(bad_run.phases_seen)}"
    )
    if failed_as_expected and not error_shown:
        print("  note: the task's error text was not found in Resource.message or error.pb")
    if not ok and ok_run.outputs is not None:
        print(f"  expected {format_outputs(expected)}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Importing flytekit replaces Python's SIGINT handler with one that calls exit(1), which would
    # skip the abort below; get KeyboardInterrupt back.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return run_demo(args)
    except StackError as exc:
        print(f"\nThe local stack did not start: {exc}", file=sys.stderr)
    except ConnectorCallError as exc:
        print(f"\nThe connector app rejected a call: {exc}", file=sys.stderr)
    except TaskTimeoutError as exc:
        print(f"\nTimed out: {exc}", file=sys.stderr)
    except httpx.HTTPError as exc:
        print(f"\nCould not reach the connector app: {type(exc).__name__}: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("\nInterrupted; the stack was stopped.", file=sys.stderr)
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
