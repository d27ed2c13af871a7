"""``python -m demo``: run the example MMCloud tasks through the connector, end to end, locally.

FlytePropeller's part is played by :mod:`demo.propeller`, calling over gRPC as propeller does:
every call goes gRPC -> the gateway (:mod:`handler.gateway`) -> HTTP -> the connector app -> the
OpCenter emulator; a moto Secrets Manager holds the credentials. All run on loopback
(:mod:`demo.stack`). Three tasks run:

* ``word_stats`` must SUCCEED with the expected statistics, read back from ``outputs.pb``;
* ``fail_on_purpose(divisor=0)`` must FAIL, and its error is shown;
* ``sleepy(seconds=60)`` is aborted while RUNNING (DeleteTask) and must end ABORTED, with its
  OpCenter job Cancelled and its processes gone.

Exit status: 0 when all three behave so, 1 when one does not, 2 when the stack or a call broke.
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
from flyteidl.admin import agent_pb2
from flytekit.core.base_task import PythonTask
from google.protobuf import json_format

from demo.abort import AbortOutcome, run_abort_example
from demo.grpc_client import GrpcConnectorClient
from demo.propeller import (
    AgentClient,
    ConnectorCallError,
    ExecutionResult,
    TaskTimeoutError,
    abort_task,
    follow_task,
    start_task,
)
from demo.serve import serve_until_interrupted
from demo.stack import StackError, local_stack
from examples.workflows import compute_word_stats, fail_on_purpose, sleepy, word_stats

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
    parser.add_argument(
        "--serve", action="store_true",
        help="keep the stack up after the examples, printing curl lines for it, until Ctrl-C",
    )  # fmt: skip
    parser.add_argument(
        "--sleep", type=int, default=60, help="seconds sleepy would run if not aborted (default 60)"
    )
    return parser.parse_args(argv)


def run_one(
    client: AgentClient,
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
    print("MMCloud connector demo: every call goes gRPC -> gateway -> HTTP -> app -> emulator")
    print("  propeller (this process) --gRPC--> gateway --HTTP--> connector app --> OpCenter")
    print("Starting the local stack ...")
    started = time.monotonic()
    with local_stack(args.work_dir, keep=args.keep, status=out) as stack:
        print(f"  work dir            {stack.work_dir}")
        print(f"  stack up in {time.monotonic() - started:.1f}s")
        with GrpcConnectorClient(stack.gateway_address) as client:
            agents = client.list_agents()
            served = sorted(
                f"{category.name} v{category.version}"
                for agent in agents.agents
                for category in agent.supported_task_categories
            )
            print(f"  agents (ListAgents via the gateway): {', '.join(served) or '(none listed)'}")

            expected = dict(compute_word_stats(args.text)._asdict())
            print(f"\n1/3  word_stats(text={args.text!r})  expecting {format_outputs(expected)}")
            ok_run = run_one(client, word_stats, {"text": args.text}, stack.blob_dir, args.timeout)
            if ok_run.outputs is not None:
                print(f"  outputs: {format_outputs(ok_run.outputs)}")
                print_log_tail(client, ok_run)
                print_metrics(client, ok_run)
            elif ok_run.error:
                print(f"  task error: {short_error(ok_run.error)}")

            print("\n2/3  fail_on_purpose(divisor=0)  expecting FAILED")
            bad_run = run_one(client, fail_on_purpose, {"divisor": 0}, stack.blob_dir, args.timeout)
            if bad_run.message:
                print("  Resource.message (what the Flyte console shows):")
                print(textwrap.indent(bad_run.message, "    "))
            if bad_run.error:
                print(f"  task error (error.pb): {short_error(bad_run.error, 400)}")

            print(f"\n3/3  sleepy(seconds={args.sleep})  aborted while RUNNING, expecting ABORTED")
            aborted = run_abort_example(
                client, stack, sleepy, {"seconds": args.sleep}, stack.blob_dir, timeout=args.timeout
            )
            print_abort(aborted)

        ok = ok_run.phase == "SUCCEEDED" and ok_run.outputs == expected
        failed_as_expected = bad_run.phase == "FAILED"
        error_shown = EXPECTED_ERROR_TEXT in (bad_run.message + (bad_run.error or ""))
        print_summary(ok_run, ok, bad_run, failed_as_expected, error_shown, expected)
        print_abort_summary(aborted)
        problems = []
        if not ok:
            problems.append(
                f"word_stats ended {ok_run.phase} with {ok_run.outputs!r}, "
                f"expected SUCCEEDED with {expected!r}"
            )
        if not failed_as_expected:
            problems.append(f"fail_on_purpose ended {bad_run.phase}, expected FAILED")
        problems.extend(f"sleepy: {problem}" for problem in aborted.problems)
        if problems:
            print("\nDemo FAILED: " + "; ".join(problems), file=sys.stderr)
        else:
            print("\nDemo passed.")
        if args.serve:
            serve_until_interrupted(stack, ok_run)
        if args.keep or args.work_dir:
            print(f"\nLogs and data kept in {stack.work_dir}")
    return 1 if problems else 0


def print_log_tail(client: GrpcConnectorClient, run: ExecutionResult, lines: int = 3) -> None:
    """The job's last lines as GetTaskLogs streams them (SYSTEM lines name the file); blank
    lines are not shown, and a file with nothing in it is not announced."""
    print(f"  log tail (GetTaskLogs, lines={lines}):")
    for response in client.get_task_logs(run.resource_meta, lines=lines):
        shown = [line for line in response.body.structured_lines if line.message.strip()]
        if all(line.originator != agent_pb2.USER for line in shown):
            continue
        for line in shown:
            text = textwrap.shorten(line.message, 110, placeholder=" ...")
            print(f"    {text}" if line.originator == agent_pb2.USER else f"  {text}")


def print_metrics(client: GrpcConnectorClient, run: ExecutionResult) -> None:
    """Peak and average CPU and memory from OpCenter's samples, and what the job cost."""
    print("  metrics (GetTaskMetrics):")
    for result in client.get_task_metrics(run.resource_meta).results:
        series = json_format.MessageToDict(result.data).get("result") or [{}]
        values = [float(v) for _, v in series[0].get("values", [])]
        labels = series[0].get("metric", {})
        if not values:
            print(f"    {result.metric:<40} no samples")
        elif result.metric.endswith("_AVG"):
            scale, unit = (1 / 2**20, "MiB") if "MEMORY" in result.metric else (1, "cores")
            print(
                f"    {result.metric:<40} peak {max(values) * scale:.2f} {unit}, "
                f"mean {sum(values) / len(values) * scale:.2f} {unit} over {len(values)} samples"
            )
        elif "currency" in labels:  # OpCenter states a cost to 4 decimals ("0.0017 USD")
            print(f"    {result.metric:<40} {values[-1]:.4f} {labels['currency']}")
        else:
            print(f"    {result.metric:<40} {values[-1]:.6f} core hours")


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
    print(f"  phases seen: word_stats {' > '.join(ok_run.phases_seen)}")
    verdict = "ok" if failed_as_expected else "UNEXPECTED"
    detail = short_error(bad_run.error, 100) or textwrap.shorten(bad_run.message, 100)
    print(
        f"  {verdict:<10} fail_on_purpose  {bad_run.phase:<10} {bad_run.elapsed_s:5.1f}s  {detail}"
    )
    print(f"  phases seen: fail_on_purpose {' > '.join(bad_run.phases_seen)}")
    if failed_as_expected and not error_shown:
        print("  note: the task's error text was not found in Resource.message or error.pb")
    if not ok and ok_run.outputs is not None:
        print(f"  expected {format_outputs(expected)}")


def print_abort(outcome: AbortOutcome) -> None:
    """What OpCenter (the emulator) says about the aborted job."""
    print(
        f"  OpCenter job {outcome.job_id}: {outcome.opcenter_status or '?'}; processes with "
        f"FLOAT_JOB_ID: {outcome.processes_while_running} while RUNNING, "
        f"{max(outcome.processes_after, 0)} after the abort"
    )


def print_abort_summary(outcome: AbortOutcome) -> None:
    verdict = "ok" if outcome.ok else "UNEXPECTED"
    result = outcome.result
    phase = result.phase if result is not None else "-"
    elapsed = result.elapsed_s if result is not None else 0.0
    detail = "; ".join(outcome.problems) or f"job {outcome.opcenter_status}, its processes gone"
    print(f"  {verdict:<10} sleepy (abort)   {phase:<10} {elapsed:5.1f}s  {detail}")
    print(f"  phases seen: sleepy {' > '.join(outcome.phases_seen)}")


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
        print(f"\nA connector call failed: {exc}", file=sys.stderr)
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
