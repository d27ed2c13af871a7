"""Operating-system side of a job: starting its script, measuring it, and killing it.

Each job runs in its own session, so its process group holds everything the script started; a
cancel signals the group, as tearing down an OpCenter host would end everything on it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import psutil

from connector.opcenter.wire import JOB_ID_ENV
from emulator.settings import ENV_PREFIX


class ResourceSample(NamedTuple):
    """One measurement of a job's whole process tree."""

    timestamp: float  # Unix time, seconds
    cpu_percent: float  # summed over the tree; 100.0 is one busy core
    rss_bytes: int


def job_environment(job_id: str, envs: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """The emulator's own environment, minus its settings (the password!), plus the job's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env.update(envs)
    env[JOB_ID_ENV] = job_id
    return env


async def start_script(
    script: Path, workdir: Path, env: Mapping[str, str], stdout: Path, stderr: Path
) -> asyncio.subprocess.Process:
    """Run ``bash script`` in ``workdir`` as the leader of a new session."""
    with stdout.open("ab") as out, stderr.open("ab") as err:
        return await asyncio.create_subprocess_exec(
            "bash",
            str(script),
            cwd=workdir,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )


def signal_group(pgid: int, sig: signal.Signals) -> bool:
    """Send ``sig`` to a process group; False if the group is already gone."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True


def process_tree(pid: int) -> list[psutil.Process]:
    """The process and all its descendants, as far as they can be seen now."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return []


def is_dead(proc: psutil.Process) -> bool:
    """Exited, even if nobody has reaped it yet (a zombie holds no resources and runs nothing)."""
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return True
    except psutil.AccessDenied:
        return False


async def terminate_group(process: asyncio.subprocess.Process, grace: float) -> None:
    """SIGTERM the job's group, wait up to ``grace`` for it to die, then SIGKILL what is left.

    Death is judged per process, not by the group being empty: where nothing reaps orphans (a
    container whose PID 1 is not an init), killed children linger as zombies in the group.
    """
    pgid = process.pid
    members = process_tree(pgid)
    signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if process.returncode is not None and all(is_dead(proc) for proc in members):
            break
        await asyncio.sleep(0.02)
    signal_group(pgid, signal.SIGKILL)
    await process.wait()


def kill_group_now(pgid: int) -> None:
    """SIGKILL a group without waiting; for shutdown paths that cannot await."""
    signal_group(pgid, signal.SIGKILL)


class TreeSampler:
    """Measures CPU and RSS of a process and all its descendants.

    psutil reports CPU use since the previous call on the same ``Process`` object, so the
    objects are kept between samples; a process seen for the first time counts as 0 % once.
    """

    def __init__(self, pid: int) -> None:
        self._root_pid = pid
        self._known: dict[int, psutil.Process] = {}

    def sample(self) -> ResourceSample | None:
        """One sample, or None once the process tree has exited."""
        tree = process_tree(self._root_pid)
        if not tree:
            return None
        cpu = 0.0
        rss = 0
        seen: dict[int, psutil.Process] = {}
        for found in tree:
            known = self._known.get(found.pid)
            # Same pid and start time: keep the old object, whose CPU baseline is set.
            proc = known if known is not None and known == found else found
            try:
                with proc.oneshot():
                    cpu += proc.cpu_percent(interval=None)
                    rss += proc.memory_info().rss
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue
            seen[proc.pid] = proc
        self._known = seen
        if not seen:  # only zombies left: the job has exited, there is nothing to measure
            return None
        return ResourceSample(time.time(), cpu, rss)
