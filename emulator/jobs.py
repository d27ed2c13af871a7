"""Job state, the in-memory registry, and each job's life from Submitted to a terminal status.

Every job is one asyncio task in the server's event loop: it walks the pre-run statuses, runs the
script as a local process group, samples it, and records how it ended. Route handlers and those
tasks share the registry, so all reads and writes of job state go through one lock, which is
never held across an ``await``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import string
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connector.opcenter.statuses import Status, phase_for
from connector.opcenter.wire import (
    STDERR_LOG,
    STDOUT_LOG,
    Job,
    Submit,
    is_job_id,
)
from emulator.errors import invalid_argument, job_not_found
from emulator.processes import (
    ResourceSample,
    TreeSampler,
    job_environment,
    kill_group_now,
    start_script,
    terminate_group,
)
from emulator.settings import INSTANCE_TYPE, WORKING_HOST, EmulatorSettings
from emulator.submit import SubmitRequest

log = logging.getLogger(__name__)

_ID_ALPHABET = string.ascii_letters + string.digits
_ID_LENGTH = 21
#: Shown as ``vmPolicy`` when the submission names none (MMCloud's default policy).
DEFAULT_VM_POLICY = "spotFirst=true"
#: The ``rc`` of a job whose script could not even be started (the shell's "command not found").
SPAWN_FAILED_RC = 127
SCRIPT_NAME = "job.sh"
WORKDIR_NAME = "work"

#: The statuses a job walks through before its process starts, in order.
PRE_RUN_STEPS = (Status.INITIALIZING, Status.STARTING, Status.EXECUTING)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _now() -> datetime:
    return datetime.now(UTC)


def new_job_id() -> str:
    job_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(_ID_LENGTH))
    assert is_job_id(job_id)
    return job_id


@dataclass(eq=False)
class JobState:
    """Everything the emulator knows about one job."""

    id: str
    name: str
    request: SubmitRequest
    directory: Path
    submit_time: datetime
    status: str = Status.SUBMITTED
    rc: str | None = None
    exec_time: datetime | None = None
    end_time: datetime | None = None
    working_host: str | None = None
    #: Pid of the job's ``bash`` (also its process group id), once started.
    pid: int | None = None
    #: (timestamp, cpu_percent, rss_bytes) of the whole process tree, every sample interval.
    samples: list[ResourceSample] = field(default_factory=list)
    #: Set by a cancel, or by a test hook forcing a terminal status: stop the job now.
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    process: asyncio.subprocess.Process | None = None

    @property
    def script_path(self) -> Path:
        return self.directory / SCRIPT_NAME

    @property
    def workdir(self) -> Path:
        return self.directory / WORKDIR_NAME

    @property
    def stdout_path(self) -> Path:
        return self.directory / STDOUT_LOG

    @property
    def stderr_path(self) -> Path:
        return self.directory / STDERR_LOG

    @property
    def terminal(self) -> bool:
        return phase_for(self.status).terminal


class JobRegistry:
    """All jobs of one emulator, by id, and the tasks that run them."""

    def __init__(self, settings: EmulatorSettings, data_dir: Path) -> None:
        self._settings = settings
        self._jobs_dir = data_dir / "jobs"
        self._jobs: dict[str, JobState] = {}
        self._lock = threading.Lock()

    # --- the OpCenter operations -------------------------------------------------------------

    def submit(self, request: SubmitRequest) -> dict[str, Any]:
        """Register a job, write its script, and start its life in the running event loop."""
        self._jobs_dir.mkdir(parents=True, exist_ok=True)
        while True:  # a clash of 21 random alphanumerics is next to impossible, but cheap to skip
            job_id = new_job_id()
            directory = self._jobs_dir / job_id
            try:
                directory.mkdir()
            except FileExistsError:
                continue
            break
        job = JobState(
            id=job_id,
            name=request.name or f"job-{job_id[:8]}",
            request=request,
            directory=directory,
            submit_time=_now(),
        )
        # Files first, registry second: a failure here leaves no half-registered job behind.
        # A lone surrogate from JSON cannot be encoded; bash gets U+FFFD instead of a crash.
        job.script_path.write_bytes(request.job_content.encode("utf-8", errors="replace"))
        job.workdir.mkdir()
        with self._lock:
            self._jobs[job_id] = job
        log.info("job %s: submitted as %r (%s)", job.id, job.name, job.status)
        task = asyncio.get_running_loop().create_task(self._run(job), name=f"job-{job_id}")
        with self._lock:
            job.task = task
            return self._record(job)

    def record(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            return self._record(self._lookup(job_id))

    def records(self) -> list[dict[str, Any]]:
        with self._lock:
            jobs = sorted(self._jobs.values(), key=lambda job: job.submit_time)
            return [self._record(job) for job in jobs]

    def cancel(self, job_id: str) -> dict[str, Any]:
        """Start cancelling: Cancelling now, Cancelled once the process group is gone."""
        with self._lock:
            job = self._lookup(job_id)
            if job.terminal:
                raise invalid_argument(f"job {job_id} is already {job.status}")
            if job.status != Status.CANCELLING:
                self._set_status(job, Status.CANCELLING)
            job.stop.set()
            if job.task is None or job.task.done():
                # Nothing left to run (e.g. a hook moved a finished job back): end it here.
                self._finish_stopped(job)
            return self._record(job)

    # --- test hooks and inspection -----------------------------------------------------------

    def force_status(self, job_id: str, status: str) -> dict[str, Any]:
        """Set any status string. A terminal one also stops the job's process, and sticks."""
        with self._lock:
            job = self._lookup(job_id)
            self._set_status(job, status, note="forced by test hook")
            if job.terminal:
                if job.end_time is None:
                    job.end_time = _now()
                job.stop.set()
            return self._record(job)

    def get(self, job_id: str) -> JobState:
        """The live state object (tests read ``pid`` and ``samples`` from it)."""
        with self._lock:
            return self._lookup(job_id)

    async def shutdown(self) -> None:
        """Kill every job's process group and wait for the job tasks to end."""
        with self._lock:
            tasks = [job.task for job in self._jobs.values() if job.task and not job.task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self.kill_all_now()

    def kill_all_now(self) -> None:
        """SIGKILL every job process group that may still run; safe from any thread."""
        with self._lock:
            pids = [
                job.pid
                for job in self._jobs.values()
                if job.pid is not None
                and job.process is not None
                and job.process.returncode is None
            ]
        for pid in pids:
            kill_group_now(pid)

    # --- a job's life ------------------------------------------------------------------------

    async def _run(self, job: JobState) -> None:
        try:
            await self._walk(job)
        except asyncio.CancelledError:
            raise
        except Exception:
            # An emulator bug must not leave the job hanging in a running status forever.
            log.exception("job %s: emulator error while running the job", job.id)
            if job.pid is not None:
                kill_group_now(job.pid)
            with self._lock:
                if not job.terminal:
                    job.end_time = _now()
                    self._set_status(job, Status.FAIL_TO_COMPLETE, note="emulator error")

    async def _walk(self, job: JobState) -> None:
        for next_status in PRE_RUN_STEPS:
            stopped = await self._stop_within(job, self._settings.step_delay)
            with self._lock:
                # Checked under the lock in the same step that moves to Executing, so a cancel
                # that arrives before this point can never let the process start.
                if stopped or job.stop.is_set():
                    self._finish_stopped(job)
                    return
                self._set_status(job, next_status)
                if next_status == Status.EXECUTING:
                    job.exec_time = _now()
                    job.working_host = WORKING_HOST
        await self._execute(job)

    async def _stop_within(self, job: JobState, delay: float) -> bool:
        try:
            await asyncio.wait_for(job.stop.wait(), timeout=delay)
        except TimeoutError:
            return job.stop.is_set()
        return True

    async def _execute(self, job: JobState) -> None:
        try:
            process = await start_script(
                job.script_path,
                job.workdir,
                job_environment(job.id, job.request.envs),
                job.stdout_path,
                job.stderr_path,
            )
        except (OSError, ValueError) as exc:  # no bash, bad cwd, unencodable env...
            with job.stderr_path.open("a", encoding="utf-8") as err:
                err.write(f"emulator: could not start the job script: {exc}\n")
            with self._lock:
                self._finish_exited(job, SPAWN_FAILED_RC)
            return

        with self._lock:
            job.pid = process.pid
            job.process = process
        sampler = asyncio.create_task(self._sample(job, process.pid))
        try:
            exited = asyncio.create_task(process.wait())
            stop = asyncio.create_task(job.stop.wait())
            try:
                await asyncio.wait({exited, stop}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stop.cancel()
                exited.cancel()
            if job.stop.is_set():
                await terminate_group(process, self._settings.kill_grace)
                with self._lock:
                    self._finish_stopped(job)
            else:
                returncode = await process.wait()
                # Whatever the script left running in the background goes with the "host".
                kill_group_now(process.pid)
                with self._lock:
                    self._finish_exited(job, _shell_rc(returncode))
        except asyncio.CancelledError:
            # The emulator is shutting down: no grace, and no status change to report.
            kill_group_now(process.pid)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(process.wait(), timeout=1.0)
            log.info("job %s: process group killed at emulator shutdown", job.id)
            raise
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler

    async def _sample(self, job: JobState, pid: int) -> None:
        sampler = TreeSampler(pid)
        while True:
            sample = sampler.sample()
            if sample is None:
                return
            with self._lock:
                job.samples.append(sample)
            await asyncio.sleep(self._settings.sample_interval)

    # --- helpers; the caller holds the lock ---------------------------------------------------

    def _lookup(self, job_id: str) -> JobState:
        job = self._jobs.get(job_id) if is_job_id(job_id) else None
        if job is None:
            raise job_not_found(job_id)
        return job

    def _set_status(self, job: JobState, status: str, *, note: str = "") -> None:
        old, job.status = job.status, status
        suffix = f" (rc {job.rc})" if job.rc is not None and job.terminal else ""
        if note:
            suffix += f" ({note})"
        log.info("job %s: %s -> %s%s", job.id, old, status, suffix)

    def _finish_stopped(self, job: JobState) -> None:
        """End a job that was told to stop; a status forced to a terminal one stays."""
        if job.end_time is None:
            job.end_time = _now()
        if not job.terminal:
            self._set_status(job, Status.CANCELLED)

    def _finish_exited(self, job: JobState, rc: int) -> None:
        """End a job whose process exited by itself, unless a hook already ended it."""
        if job.terminal:
            return
        job.end_time = _now()
        job.rc = str(rc)
        self._set_status(job, Status.COMPLETED if rc == 0 else Status.FAIL_TO_EXECUTE)

    def _record(self, job: JobState) -> dict[str, Any]:
        """The job as ``GET /api/v1/jobs/{id}`` shows it."""
        cores = job.request.cpu.minimum
        if job.exec_time is None:
            seconds = 0.0
        else:
            seconds = max(0.0, ((job.end_time or _now()) - job.exec_time).total_seconds())
        core_hours = seconds / 3600 * cores
        record: dict[str, Any] = {
            Job.ID: job.id,
            Job.NAME: job.name,
            Job.STATUS: job.status,
            Job.CUSTOM_TAGS: dict(job.request.custom_tags),
            Job.SUBMIT_TIME: _iso(job.submit_time),
            Job.DURATION: round(seconds, 3),
            Job.COST: f"{core_hours * self._settings.core_hour_usd:.4f} USD",
            Job.CORE_HOURS: round(core_hours, 6),
            Job.CPU: cores,
            Job.MEM_GB: job.request.mem.minimum,
            Job.INSTANCE_TYPE: INSTANCE_TYPE,
            Job.STDOUT: STDOUT_LOG,
            Job.STDERR: STDERR_LOG,
            Job.VM_POLICY: job.request.extra.get(Submit.VM_POLICY, DEFAULT_VM_POLICY),
            Job.IMAGE: job.request.image,
        }
        if job.rc is not None:
            record[Job.RC] = job.rc
        if job.exec_time is not None:
            record[Job.EXEC_TIME] = _iso(job.exec_time)
        if job.end_time is not None:
            record[Job.END_TIME] = _iso(job.end_time)
        if job.working_host is not None:
            record[Job.WORKING_HOST] = job.working_host
        return record


def _shell_rc(returncode: int) -> int:
    """asyncio reports death by signal N as -N; a shell (and ``float``) would say 128 + N."""
    return 128 - returncode if returncode < 0 else returncode
