"""Example tasks and a workflow written with the upstream MMCloud task plugin.

Every task here uses ``flytekitplugins.mmcloud.MMCloudConfig`` exactly as a user of the upstream
plugin would, so the same code runs unchanged against the real connector, the serverless one, or
the local OpCenter emulator (``python -m demo`` runs them end to end on this machine).

Run the workflow locally (no MMCloud at all, plain Python)::

    pyflyte run examples/workflows.py word_stats_wf --text "to be or not to be"
"""

from __future__ import annotations

import sys
import time
from typing import NamedTuple

from flytekit import Resources, task, workflow
from flytekitplugins.mmcloud import MMCloudConfig

#: The image MMCloud would pull. The local OpCenter emulator ignores it and runs the job as a
#: process on this machine, so any explicit name works for the demo.
IMAGE = "ghcr.io/flyteorg/flytekit:py3.11-1.16.0"

#: What a user would pass to ``float submit``: on-demand VMs, no live migration.
SUBMIT_EXTRA = "--vmPolicy [onDemand=true] --migratePolicy [disable=true]"


class WordStats(NamedTuple):
    words: int
    unique: int
    longest: str


def compute_word_stats(text: str) -> WordStats:
    """Count words and distinct words (case-insensitive) and find the first longest word."""
    words = [w.strip(".,;:!?\"'()").lower() for w in text.split()]
    words = [w for w in words if w]
    longest = max(words, key=len) if words else ""
    return WordStats(words=len(words), unique=len(set(words)), longest=longest)


@task(
    task_config=MMCloudConfig(submit_extra=SUBMIT_EXTRA),
    container_image=IMAGE,
    requests=Resources(cpu="1", mem="1Gi"),
    limits=Resources(cpu="2", mem="2Gi"),
)
def word_stats(text: str) -> WordStats:
    """Word count, distinct-word count and the first longest word of ``text``.

    For ``"The quick brown fox jumps over the lazy dog"`` this is ``(9, 8, "quick")``.
    """
    stats = compute_word_stats(text)
    print(f"counted {stats.words} words, {stats.unique} distinct; longest {stats.longest!r}")
    return stats


@task(
    task_config=MMCloudConfig(submit_extra=SUBMIT_EXTRA),
    container_image=IMAGE,
    requests=Resources(cpu="1", mem="1Gi"),
)
def fail_on_purpose(divisor: int) -> float:
    """Divide 100 by ``divisor``; ``divisor=0`` fails with an error that says what to change."""
    if divisor == 0:
        raise ValueError(
            "fail_on_purpose: divisor must be non-zero, got divisor=0. "
            "This task fails on purpose to show how MMCloud job failures reach Flyte; "
            "run it with a non-zero divisor (e.g. divisor=4) to make it succeed."
        )
    return 100 / divisor


@task(
    task_config=MMCloudConfig(submit_extra=SUBMIT_EXTRA),
    container_image=IMAGE,
    requests=Resources(cpu="1", mem="1Gi"),
)
def sleepy(seconds: int) -> int:
    """Sleep ``seconds`` seconds and return how many were slept (an abort/cancel example)."""
    time.sleep(seconds)
    return seconds


@task(
    task_config=MMCloudConfig(),
    container_image=IMAGE,
    requests=Resources(cpu="1", mem="1Gi"),
)
def ticker(count: int, interval: float) -> int:
    """Print ``count`` numbered lines to stdout, one every ``interval`` seconds (a logs example),
    and a closing line to stderr. Returns ``count``."""
    for i in range(count):
        print(f"tick {i:05d}", flush=True)
        if interval:
            time.sleep(interval)
    print(f"ticker printed {count} lines", file=sys.stderr, flush=True)
    return count


@task(
    task_config=MMCloudConfig(),
    container_image=IMAGE,
    requests=Resources(cpu="1", mem="1Gi"),
)
def burn(seconds: float, mebibytes: int) -> int:
    """Keep one core busy for ``seconds`` while holding ``mebibytes`` of memory (a metrics
    example). Returns how many loop rounds it made."""
    block = bytearray(mebibytes * 1024 * 1024)
    for i in range(0, len(block), 4096):
        block[i] = 1  # touch every page so the memory is really resident
    rounds = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sum(range(10_000))
        rounds += 1
    return rounds + block[0] - 1


@task(
    task_config=MMCloudConfig(),
    container_image=IMAGE,
)
def describe(words: int, unique: int, longest: str) -> str:
    """Render the word statistics as one readable sentence."""
    return f"{words} words, {unique} distinct, longest word {longest!r}"


@workflow
def word_stats_wf(text: str = "The quick brown fox jumps over the lazy dog") -> str:
    """Compute the statistics of ``text`` on MMCloud and describe them."""
    stats = word_stats(text=text)
    return describe(words=stats.words, unique=stats.unique, longest=stats.longest)
