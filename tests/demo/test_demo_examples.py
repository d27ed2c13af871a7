"""The example tasks compute what they say, and serialise as upstream MMCloud tasks."""

from __future__ import annotations

import pytest
from google.protobuf import json_format

from demo.constants import DOMAIN, PROJECT, TASK_TYPE
from demo.propeller import serialize_task
from examples.workflows import (
    IMAGE,
    SUBMIT_EXTRA,
    compute_word_stats,
    fail_on_purpose,
    sleepy,
    word_stats,
    word_stats_wf,
)

FOX = "The quick brown fox jumps over the lazy dog"


def test_word_stats_counts_words_distinct_words_and_first_longest_word() -> None:
    assert word_stats(text=FOX) == (9, 8, "quick")


def test_word_stats_ignores_case_and_punctuation() -> None:
    assert compute_word_stats("To be, or not to be!") == (6, 4, "not")
    assert compute_word_stats("   ") == (0, 0, "")


def test_workflow_describes_the_statistics() -> None:
    assert word_stats_wf(text="to be or not to be") == "6 words, 4 distinct, longest word 'not'"


def test_fail_on_purpose_raises_an_error_that_says_what_to_change() -> None:
    with pytest.raises(ValueError, match=r"divisor must be non-zero.*divisor=4"):
        fail_on_purpose.task_function(divisor=0)
    assert fail_on_purpose.task_function(divisor=4) == 25.0


def test_sleepy_returns_the_seconds_it_slept() -> None:
    assert sleepy.task_function(seconds=0) == 0


def test_word_stats_serialises_as_an_upstream_mmcloud_task() -> None:
    template = serialize_task(word_stats)

    assert template.type == TASK_TYPE
    assert (template.id.project, template.id.domain) == (PROJECT, DOMAIN)
    assert template.id.name == "examples.workflows.word_stats"
    custom = json_format.MessageToDict(template.custom)
    # requests cpu 1, mem 1Gi; limits cpu 2, mem 2Gi -> [min_cpu, min_mem, max_cpu, max_mem] (GiB)
    assert custom == {"submit_extra": SUBMIT_EXTRA, "resources": ["1", "1", "2", "2"]}
    assert template.container.image == IMAGE
    assert set(template.interface.inputs.variables) == {"text"}
    assert set(template.interface.outputs.variables) == {"words", "unique", "longest"}


def test_a_task_without_limits_serialises_null_maxima() -> None:
    custom = json_format.MessageToDict(serialize_task(fail_on_purpose).custom)
    assert custom["resources"] == ["1", "1", None, None]


def test_serialised_args_run_pyflyte_execute_on_the_task_module() -> None:
    args = list(serialize_task(word_stats).container.args)

    assert args[0] == "pyflyte-execute"
    assert args[args.index("--inputs") + 1] == "{{.input}}"
    assert args[args.index("--output-prefix") + 1] == "{{.outputPrefix}}"
    assert args[-5:] == ["--", "task-module", "examples.workflows", "task-name", "word_stats"]
