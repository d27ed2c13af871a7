"""TaskTemplate -> OpCenter job request, on templates flytekit really serialised."""

import shlex
from pathlib import Path

import pytest
from flyteidl.core.tasks_pb2 import TaskTemplate
from flytekit import Resources, task
from flytekitplugins.mmcloud import MMCloudConfig

from connector.errors import InvalidArgument
from connector.job_request import job_request, job_script
from demo.propeller import prepare_execution, serialize_task
from examples import workflows


@task(task_config=MMCloudConfig(), container_image="img:1")
def bare(x: int) -> int:
    return x


@task(
    task_config=MMCloudConfig(submit_extra="--customTag team:ml --instType c5.large"),
    container_image="img:2",
    limits=Resources(cpu="3", mem="5Gi"),
)
def limited(x: int) -> int:
    return x


def rendered(t: TaskTemplate) -> TaskTemplate:
    out = TaskTemplate()
    out.CopyFrom(t)
    args = [a.replace("{{.input}}", "/in/inputs.pb") for a in t.container.args]
    args = [
        a.replace("{{.outputPrefix}}", "/out").replace("{{.rawOutputDataPrefix}}", "/raw")
        for a in args
    ]
    args = [
        a.replace("{{.checkpointOutputPrefix}}", "/ck").replace("{{.prevCheckpointPrefix}}", "")
        for a in args
    ]
    del out.container.args[:]
    out.container.args.extend(args)
    return out


def test_the_example_task_with_metadata(tmp_path: Path) -> None:
    prepared = prepare_execution(workflows.word_stats, {"text": "a b"}, tmp_path)
    body = job_request(prepared.template, prepared.metadata)

    assert body["image"] == workflows.IMAGE
    assert body["cpu"] == "1:2"  # requests 1 / limits 2
    assert body["mem"] == "1:2"  # GiB
    assert body["vmPolicy"] == "[onDemand=true]"
    assert body["migratePolicy"] == "[disable=true]"
    script = body["jobContent"]
    assert script.startswith("#!/bin/bash\n")
    assert shlex.split(script.splitlines()[1]) == ["exec", *prepared.template.container.args]
    envs = dict(e.split("=", 1) for e in body["envs"])
    assert envs["PYTHONPATH"] == prepared.env["PYTHONPATH"]
    tags = body["customTags"]
    assert tags["flyte-project"] == "flytesnacks"
    assert tags["flyte-domain"] == "development"
    assert tags["flyte-execution"] == prepared.identity.name
    assert tags["flyte-node"] == prepared.identity.node_id
    assert tags["flyte-retry"] == "0"
    assert tags["flyte-task"] == "examples.workflows.word_stats"
    assert body["name"] == f"{prepared.identity.name}-{prepared.identity.node_id}-0"


def test_defaults_without_resources_or_metadata() -> None:
    body = job_request(rendered(serialize_task(bare)))
    assert body["cpu"] == "1"
    assert body["mem"] == "1"
    assert body["customTags"] == {"flyte-task": f"{__name__}.bare"}
    assert "vmPolicy" not in body


def test_limits_without_requests_become_the_minimum_and_extra_flags_apply() -> None:
    body = job_request(rendered(serialize_task(limited)))
    assert body["cpu"] == "3:3"
    assert body["mem"] == "5:5"
    assert body["instType"] == "c5.large"
    assert body["customTags"]["team"] == "ml"


def test_task_failures_fail_the_job() -> None:
    # pyflyte-execute exits 0 after a user error unless told otherwise; the job must fail.
    envs = job_request(rendered(serialize_task(bare)))["envs"]
    assert "FLYTE_FAIL_ON_ERROR=true" in envs


def test_unrendered_args_are_rejected() -> None:
    with pytest.raises(InvalidArgument) as err:
        job_request(serialize_task(bare))
    assert err.value.field == "template.container.args"
    assert "{{.input}}" in str(err.value)


def test_script_quotes_hostile_arguments() -> None:
    script = job_script(["echo", "$(rm -rf /)", "a b", "'q'"])
    assert shlex.split(script.splitlines()[1]) == ["exec", "echo", "$(rm -rf /)", "a b", "'q'"]


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda t: setattr(t, "type", "python-task"), "template.type"),
        (lambda t: setattr(t, "type", ""), "template.type"),
        (lambda t: t.custom.update({"spot": True}), "template.custom.spot"),
        (lambda t: t.ClearField("container"), "template.container"),
        (lambda t: setattr(t.container, "image", ""), "template.container.image"),
        (
            lambda t: t.custom.update({"resources": ["2", "1", "1", None]}),
            "template.custom.resources",
        ),
        (lambda t: t.custom.update({"resources": ["x", "1", None, None]}), "min_cpu"),
        (lambda t: t.custom.update({"resources": [1, 1]}), "template.custom.resources"),
        (lambda t: t.custom.update({"submit_extra": "--nope"}), "template.custom.submit_extra"),
        (lambda t: t.custom.update({"submit_extra": 5}), "template.custom.submit_extra"),
        (lambda t: t.container.env.add(key="BAD-NAME", value="1"), "template.container.env"),
    ],
)
def test_bad_templates_name_the_field(mutate, field: str) -> None:
    template = rendered(serialize_task(bare))
    mutate(template)
    with pytest.raises(InvalidArgument) as err:
        job_request(template)
    assert field in str(err.value)
