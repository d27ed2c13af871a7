"""The abort example: propeller aborts a RUNNING task, and the demo checks it from both sides.

On abort FlytePropeller calls ``DeleteTask`` once and keeps polling ``GetTask`` until the phase is
terminal. Seen from Flyte, the task must end ABORTED; seen from MMCloud, the job must end
``Cancelled`` and its processes must be gone (no orphan keeps burning a VM). The emulator runs a
job as local processes, each with ``FLOAT_JOB_ID=<job id>`` in its environment (as OpCenter sets
it), which is how this module finds them.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
from flytekit.core.base_task import PythonTask

from connector.opcenter.wire import JOB_ID_ENV, LOGIN_PATH, TOKEN_HEADER, Job, job_path
from demo.propeller import (
    PHASE,
    TERMINAL_PHASES,
    AgentClient,
    ExecutionResult,
    StartedTask,
    abort_task,
    follow_task,
    phase_name,
    resource_phase,
    start_task,
)
from demo.stack import LocalStack

#: Let the job get into its task (``pyflyte-execute`` under the job's bash) before aborting, so
#: the abort has a whole process tree to stop, as a real running task would.
RUN_BEFORE_ABORT_S = 2.0


@dataclass
class AbortOutcome:
    """What the abort example saw; ``problems`` is empty when everything behaved."""

    job_id: str
    result: ExecutionResult | None = None
    processes_while_running: int = 0
    opcenter_status: str = ""
    processes_after: int = -1
    problems: list[str] = field(default_factory=list)
    #: Phases seen before and after the abort (``QUEUED > ... > RUNNING > ABORTED``).
    phases_seen: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def job_processes(job_id: str) -> list[psutil.Process]:
    """Live processes of the emulated job ``job_id`` (zombies count as gone)."""
    found = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if process.status() == psutil.STATUS_ZOMBIE:
                continue
            if process.environ().get(JOB_ID_ENV) == job_id:
                found.append(process)
    return found


def opcenter_job(stack: LocalStack, job_id: str) -> dict[str, object]:
    """The job record as OpCenter (the emulator) has it, read with the stack's own login."""
    with httpx.Client(base_url=stack.emulator_url, timeout=10.0) as http:
        login = http.get(LOGIN_PATH, auth=(stack.username, stack.password))
        login.raise_for_status()
        response = http.get(job_path(job_id), headers={TOKEN_HEADER: login.headers[TOKEN_HEADER]})
        response.raise_for_status()
        record: dict[str, object] = response.json()
        return record


def wait_for_running(
    client: AgentClient,
    started: StartedTask,
    seen: list[str],
    *,
    timeout: float,
    poll_interval: float = 0.5,
) -> int:
    """Poll ``GetTask`` until RUNNING (or a terminal phase, or ``timeout``); return the phase.
    Each new phase is reported and appended to ``seen``."""
    output_prefix = str(started.execution.paths.output_prefix)
    deadline = time.monotonic() + timeout
    while True:
        resource = client.get_task(started.resource_meta, output_prefix=output_prefix)
        phase = resource_phase(resource)
        if not seen or seen[-1] != phase_name(phase):
            seen.append(phase_name(phase))
            started.reporter.phase(
                phase_name(phase), resource.message, time.monotonic() - started.started
            )
        if phase == PHASE.RUNNING or phase in TERMINAL_PHASES or time.monotonic() > deadline:
            return phase
        time.sleep(poll_interval)


def _wait_for_no_processes(job_id: str, timeout: float = 5.0) -> int:
    deadline = time.monotonic() + timeout
    while (count := len(job_processes(job_id))) and time.monotonic() < deadline:
        time.sleep(0.1)
    return count


def run_abort_example(
    client: AgentClient,
    stack: LocalStack,
    task: PythonTask,
    inputs: dict[str, object],
    blob_dir: Path,
    *,
    timeout: float,
) -> AbortOutcome:
    """Create ``task``, wait for RUNNING, DeleteTask it, follow it to its end, then check
    OpCenter's record and the job's processes."""
    started = start_task(client, task, inputs, blob_dir)
    job_id = str(json.loads(started.resource_meta)["job_id"])
    outcome = AbortOutcome(job_id=job_id)
    try:
        phase = wait_for_running(client, started, outcome.phases_seen, timeout=timeout)
    except BaseException:
        with contextlib.suppress(Exception):
            abort_task(client, started)
        raise
    if phase != PHASE.RUNNING:
        outcome.problems.append(f"expected RUNNING before the abort, got {phase_name(phase)}")
        with contextlib.suppress(Exception):
            abort_task(client, started)
        return outcome
    time.sleep(RUN_BEFORE_ABORT_S)
    outcome.processes_while_running = len(job_processes(job_id))
    if outcome.processes_while_running == 0:
        outcome.problems.append(f"no process with {JOB_ID_ENV}={job_id} while RUNNING")

    abort_task(client, started)
    outcome.result = follow_task(client, started, timeout=timeout, poll_interval=0.5)
    for name in outcome.result.phases_seen:
        if name != outcome.phases_seen[-1]:
            outcome.phases_seen.append(name)
    if outcome.result.phase != "ABORTED":
        outcome.problems.append(f"ended {outcome.result.phase}, expected ABORTED")

    outcome.opcenter_status = str(opcenter_job(stack, job_id).get(Job.STATUS, ""))
    if outcome.opcenter_status != "Cancelled":
        outcome.problems.append(f"OpCenter says {outcome.opcenter_status!r}, expected 'Cancelled'")
    outcome.processes_after = _wait_for_no_processes(job_id)
    if outcome.processes_after:
        outcome.problems.append(
            f"{outcome.processes_after} process(es) with {JOB_ID_ENV}={job_id} still alive"
        )
    return outcome
