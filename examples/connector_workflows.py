"""Example tasks written with *this* project's ``MMCloudConfig`` (typed fields).

Unlike the upstream plugin's tasks (``examples/workflows.py``), these go through the connector
even when run locally: ``pyflyte run`` submits each MMCloud task as a job to the configured
OpCenter, polls it, and cancels it on Ctrl-C. Against the local emulator::

    make emulator                                   # another terminal: OpCenter on :8900
    MMC_ADDRESS=http://127.0.0.1:8900 MMC_USERNAME=admin MMC_PASSWORD=emulator \\
    MMC_EMULATED_JOBS=1 .venv/bin/pyflyte run examples/connector_workflows.py word_stats_wf \\
        --text "to be or not to be"

``describe`` is a plain task: it runs in the ``pyflyte run`` process, as usual.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import timedelta
from pathlib import Path

from flytekit import Resources, task, workflow

from connector.flytekit_plugin import MigratePolicy, MMCloudConfig, VMPolicy
from examples.workflows import IMAGE, WordStats, compute_word_stats

#: Set to 1 when the OpCenter is the local emulator, which runs jobs on this machine.
EMULATED_JOBS_ENV = "MMC_EMULATED_JOBS"


def emulated_job_env() -> dict[str, str]:
    """Environment for the job when the emulator runs it here; empty for a real OpCenter.

    A real MMCloud job runs the task's image, which has ``pyflyte-execute`` on its PATH and this
    code importable. An emulated job runs as a process on this machine instead, so its "image" is
    this checkout and this virtualenv. Gated by ``MMC_EMULATED_JOBS=1`` so that a task
    registered for a real deployment never carries this machine's paths.
    """
    if os.environ.get(EMULATED_JOBS_ENV) != "1":
        return {}
    repo = Path(__file__).resolve().parents[1]
    bin_dir = Path(sys.executable).parent
    return {
        "PATH": os.pathsep.join([str(bin_dir), os.environ.get("PATH", os.defpath)]),
        "PYTHONPATH": str(repo),
    }


MMCLOUD = MMCloudConfig(
    vm_policy=VMPolicy.ON_DEMAND,
    migrate_policy=MigratePolicy.DISABLE,
    custom_tags={"team": "examples"},
    time_limit=timedelta(minutes=10),
)


@task(
    task_config=MMCLOUD,
    container_image=IMAGE,
    requests=Resources(cpu="1", mem="1Gi"),
    limits=Resources(cpu="2", mem="2Gi"),
    environment=emulated_job_env(),
)
def word_stats(text: str) -> WordStats:
    """Word count, distinct-word count and first longest word, computed in an MMCloud job."""
    return compute_word_stats(text)


@task(
    task_config=MMCLOUD,
    container_image=IMAGE,
    requests=Resources(cpu="1", mem="1Gi"),
    environment=emulated_job_env(),
)
def sleepy(seconds: int) -> int:
    """Sleep in an MMCloud job; Ctrl-C on ``pyflyte run`` cancels the job."""
    time.sleep(seconds)
    return seconds


@task
def describe(words: int, unique: int, longest: str) -> str:
    """Render the statistics as one sentence (a plain task: runs where the workflow runs)."""
    return f"{words} words, {unique} distinct, longest word {longest!r}"


@workflow
def word_stats_wf(text: str = "The quick brown fox jumps over the lazy dog") -> str:
    """Statistics of ``text`` on MMCloud, described locally."""
    stats = word_stats(text=text)
    return describe(words=stats.words, unique=stats.unique, longest=stats.longest)
