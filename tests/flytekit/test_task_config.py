"""Our ``MMCloudConfig``: typed fields rendered as the flags the connector parses, and every bad
value refused when the task is declared, with a message naming the field."""

from __future__ import annotations

from collections import OrderedDict
from datetime import timedelta
from typing import Any

import pytest
from flytekit import Resources, task
from flytekit.configuration import ImageConfig, SerializationSettings
from flytekit.core.context_manager import ExecutionState, FlyteContextManager
from flytekit.tools.translator import get_serializable
from google.protobuf import json_format

from connector.flytekit_task import MMCloudTask
from connector.opcenter.wire import Submit
from connector.submit_extra import parse_submit_extra
from connector.task_config import MigratePolicy, MMCloudConfig, VMPolicy

SETTINGS = SerializationSettings(
    image_config=ImageConfig.auto_default_image(), project="p", domain="d", version="v1"
)


def double(n: int) -> int:
    return n * 2


def _custom(task_obj: Any) -> dict[str, Any]:
    template = get_serializable(OrderedDict(), SETTINGS, task_obj).template.to_flyte_idl()
    assert template.type == "mmcloud_task"
    return json_format.MessageToDict(template.custom)


def test_the_default_config_serialises_as_upstreams_default() -> None:
    declared = task(task_config=MMCloudConfig())(double)

    assert isinstance(declared, MMCloudTask)
    assert _custom(declared) == {"submit_extra": "", "resources": ["1", "1", None, None]}


def test_typed_fields_become_flags_the_connector_parses() -> None:
    config = MMCloudConfig(
        submit_extra="--securityGroup sg-1",
        vm_policy=VMPolicy.SPOT_FIRST,
        migrate_policy="disable",
        data_volumes=["[size=10]:/scratch", "nfs://10.0.0.2/share:/mnt/share"],
        custom_tags={"team": "ml", "run": 7},
        instance_type="c6i.2xlarge",
        time_limit=3600,
    )

    fields = parse_submit_extra(config.rendered_submit_extra())

    assert config.migrate_policy is MigratePolicy.DISABLE
    assert config.time_limit == timedelta(hours=1)
    assert fields == {
        Submit.SECURITY_GROUP: "sg-1",
        Submit.VM_POLICY: "[spotFirst=true]",
        Submit.MIGRATE_POLICY: "[disable=true]",
        Submit.DATA_VOLUMES: ["[size=10]:/scratch", "nfs://10.0.0.2/share:/mnt/share"],
        Submit.CUSTOM_TAGS: {"team": "ml", "run": "7"},
        Submit.INST_TYPE: "c6i.2xlarge",
        Submit.TIME_LIMIT: "3600s",
    }
    assert config.rendered_submit_extra().startswith("--securityGroup sg-1 --vmPolicy ")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"vm_policy": "cheapest"}, r"vm_policy is 'cheapest'; choose one of 'spotOnly'"),
        ({"migrate_policy": True}, r"migrate_policy is True; choose one of 'enable'"),
        ({"data_volumes": "[size=10]:/data"}, r"data_volumes must be a list"),
        ({"data_volumes": ["s3://bucket"]}, r"data_volumes\[0\] 's3://bucket' must end with"),
        ({"data_volumes": ["--x:/data"]}, r"submit_extra"),
        ({"custom_tags": {"a:b": "c"}}, r"custom_tags key 'a:b'"),
        ({"custom_tags": {"ok": None}}, r"custom_tags\['ok'\] must be a string"),
        ({"instance_type": "m5 large"}, r"instance_type 'm5 large' is not an instance type"),
        ({"time_limit": 0}, r"time_limit must be a positive whole number of seconds"),
        ({"time_limit": timedelta(seconds=1.5)}, r"time_limit must be a positive whole"),
        ({"time_limit": "1h"}, r"time_limit must be a timedelta or whole seconds"),
        ({"submit_extra": "--turbo"}, r"submit_extra unknown flag '--turbo'"),
        ({"submit_extra": "--job run.sh"}, r"submit_extra --job"),
        ({"submit_extra": "--vmPolicy spot"}, r"submit_extra --vmPolicy takes a bracketed list"),
        (
            {"submit_extra": "--vmPolicy [spotOnly=true]", "vm_policy": "onDemand"},
            r"vm_policy is also given as --vmPolicy in submit_extra",
        ),
        (
            {"submit_extra": "--timeLimit 60s", "time_limit": 60},
            r"time_limit is also given as --timeLimit",
        ),
        (
            {"submit_extra": "--customTag team:a", "custom_tags": {"team": "b"}},
            r"custom_tags \['team'\] also given as --customTag",
        ),
    ],
)
def test_bad_values_fail_at_declaration_naming_the_field(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=r"^MMCloudConfig\." + message):

        @task(task_config=MMCloudConfig(**fields))
        def declared(n: int) -> int:
            return n


R = Resources


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ({"requests": R(cpu="4"), "limits": R(cpu="2")}, r"cpu request \(4 cores\)"),
        ({"requests": R(mem="3Gi"), "limits": R(mem="2Gi")}, r"mem request \(3 GiB"),
        ({"requests": R(cpu="lots")}, r"requests\.cpu: 'lots' is not a Kubernetes quantity"),
        ({"requests": R(gpu="1")}, r"requests\.gpu: MMCloud picks GPUs"),
        ({"limits": R(ephemeral_storage="10Gi")}, r"limits\.ephemeral_storage"),
    ],
)
def test_bad_resources_fail_at_declaration_naming_the_task(
    resources: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=r"^MMCloud task .*declared: " + message):

        @task(task_config=MMCloudConfig(), **resources)
        def declared(n: int) -> int:
            return n


def test_resources_takes_request_and_limit_pairs() -> None:
    declared = task(
        task_config=MMCloudConfig(), resources=Resources(cpu=("2", "4"), mem=("3Gi", "6Gi"))
    )(double)

    assert _custom(declared)["resources"] == ["2", "3", "4", "6"]
    assert tuple(declared.mmcloud_resources) == (2, 3, 4, 6)


def test_resources_are_not_set_on_the_container() -> None:
    """As upstream: propeller would impose them on the connector call, where they mean nothing."""
    declared = task(
        task_config=MMCloudConfig(),
        requests=Resources(cpu="2", mem="2Gi"),
        limits=Resources(cpu="4", mem="4Gi"),
    )(double)
    template = get_serializable(OrderedDict(), SETTINGS, declared).template.to_flyte_idl()

    assert not template.container.resources.requests
    assert not template.container.resources.limits


def test_inside_the_job_the_function_runs() -> None:
    """pyflyte-execute in the MMCloud job runs in TASK_EXECUTION mode: no connector there."""
    declared = task(task_config=MMCloudConfig())(double)
    ctx = FlyteContextManager.current_context()
    state = ctx.execution_state.with_params(mode=ExecutionState.Mode.TASK_EXECUTION)

    with FlyteContextManager.with_context(ctx.with_execution_state(state)):
        assert declared.execute(n=21) == 42


def test_a_config_of_another_type_is_refused() -> None:
    with pytest.raises(TypeError, match="MMCloudConfig"):
        MMCloudTask(task_config=object(), task_function=double)  # type: ignore[arg-type]
