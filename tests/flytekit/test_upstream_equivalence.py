"""A task declared with upstream's ``MMCloudConfig`` and the same task declared with ours submit
equivalent jobs; our resource mapping is upstream's, case by case (including its errors)."""

from __future__ import annotations

from collections import OrderedDict
from datetime import timedelta
from typing import Any

import flytekitplugins.mmcloud as upstream
import flytekitplugins.mmcloud.utils as upstream_utils
import kubernetes.utils.quantity as kubernetes_quantity
import pytest
from flytekit import Resources, task
from flytekit.configuration import ImageConfig, SerializationSettings
from flytekit.extend.backend.utils import render_task_template
from flytekit.tools.translator import get_serializable
from google.protobuf import json_format

from connector.job_request import job_request
from connector.opcenter.wire import Submit
from connector.task_config import MigratePolicy, MMCloudConfig, VMPolicy
from connector.task_resources import flyte_to_mmcloud_resources, parse_quantity

SETTINGS = SerializationSettings(
    image_config=ImageConfig.auto_default_image(), project="p", domain="d", version="v1"
)


def crunch(n: int) -> int:
    """The task body both declarations share (so both serialise the same args)."""
    return n * 2


def _job(task_obj: Any) -> dict[str, Any]:
    """The job our connector submits for the task (args rendered as a local run renders them)."""
    template = get_serializable(OrderedDict(), SETTINGS, task_obj).template
    body = job_request(render_task_template(template, "/blobs/exec").to_flyte_idl())
    body.pop(Submit.NAME)
    return body


# (upstream submit_extra, our typed fields) that mean the same job.
EQUIVALENT = [
    ("", {}),
    (
        "--vmPolicy [onDemand=true] --migratePolicy [disable=true]",
        {"vm_policy": VMPolicy.ON_DEMAND, "migrate_policy": MigratePolicy.DISABLE},
    ),
    (
        "--vmPolicy [spotFirst=true] --dataVolume [size=100]:/data "
        "--dataVolume s3://bucket/in:/inputs --customTag team:ml --customTag cost-center:42 "
        "--instType m5.xlarge --timeLimit 5400s",
        {
            "vm_policy": "spotFirst",
            "data_volumes": ["[size=100]:/data", "s3://bucket/in:/inputs"],
            "custom_tags": {"team": "ml", "cost-center": "42"},
            "instance_type": "m5.xlarge",
            "time_limit": timedelta(minutes=90),
        },
    ),
    # Typed fields and raw flags together, as a user moving over step by step would write.
    (
        "--securityGroup sg-123 --migratePolicy [enable=true]",
        {"submit_extra": "--securityGroup sg-123", "migrate_policy": "enable"},
    ),
]


@pytest.mark.parametrize(("submit_extra", "typed"), EQUIVALENT)
def test_both_configs_submit_the_same_job(submit_extra: str, typed: dict[str, Any]) -> None:
    resources = {
        "requests": Resources(cpu="500m", mem="1.5Gi"),
        "limits": Resources(cpu="4", mem="8Gi"),
    }
    theirs = task(
        task_config=upstream.MMCloudConfig(submit_extra=submit_extra),
        container_image="img:1",
        **resources,
    )(crunch)
    ours = task(task_config=MMCloudConfig(**typed), container_image="img:1", **resources)(crunch)

    assert type(theirs) is upstream.MMCloudTask
    assert _job(ours) == _job(theirs)
    custom = json_format.MessageToDict(
        get_serializable(OrderedDict(), SETTINGS, ours).template.to_flyte_idl().custom
    )
    assert set(custom) == {"submit_extra", "resources"}  # upstream's schema, nothing more
    assert custom["resources"] == ["1", "2", "4", "8"]


R = Resources
RESOURCE_CASES: list[tuple[Resources | None, Resources | None]] = [
    (None, None),
    (R(cpu="1", mem="1Gi"), R(cpu="2", mem="2Gi")),
    (R(cpu="1", mem="1Gi"), None),
    (None, R(cpu="2", mem="4Gi")),
    (R(cpu="500m", mem="512Mi"), None),  # under the floor: 1 core, 1 GiB
    (R(cpu="1.5", mem="1.5Gi"), R(cpu="1.6", mem="1.6Gi")),  # rounding up
    (R(cpu=2, mem=2 * 1024**3), R(cpu=3.5, mem=4 * 1024**3)),  # numbers
    (R(cpu="1", mem="3G"), R(cpu="4", mem="3000M")),  # decimal suffixes
    (R(cpu="2000m", mem="1048576Ki"), R(cpu="2", mem="1Gi")),  # equal after parsing
    (R(cpu="1e0", mem="2e9"), None),  # exponents
    (R(cpu="0", mem="0"), None),  # zero strings: raised to the floor
    (R(cpu=0, mem=0), R(cpu="3", mem="3Gi")),  # falsy numbers: not given
    (R(mem="1.2Gi"), R(mem="1.1Gi")),  # request over limit in bytes...
    (R(cpu="1.2"), R(cpu="1.1")),  # ...but cpu compares after rounding up: fine
    (R(cpu="3"), R(cpu="2")),  # request over limit
    (R(mem="5Gi"), R(mem="4Gi")),
    (None, R(cpu="1", mem="1Ti")),
]


def _outcome(func: Any, requests: Resources | None, limits: Resources | None) -> Any:
    try:
        return tuple(func(requests=requests, limits=limits))
    except ValueError:
        return ValueError


@pytest.mark.parametrize(("requests", "limits"), RESOURCE_CASES)
def test_resource_mapping_is_upstreams(
    requests: Resources | None, limits: Resources | None
) -> None:
    assert _outcome(flyte_to_mmcloud_resources, requests, limits) == _outcome(
        upstream_utils.flyte_to_mmcloud_resources, requests, limits
    )


def test_the_cases_cover_errors_and_open_maxima() -> None:
    outcomes = [
        _outcome(upstream_utils.flyte_to_mmcloud_resources, r, lim) for r, lim in RESOURCE_CASES
    ]
    assert ValueError in outcomes
    assert (1, 1, None, None) in outcomes


@pytest.mark.parametrize(
    "quantity",
    ["1", "0.5", "250m", "1.5Gi", "128Mi", "2G", "3k", "1K", "7Ti", "1e3", "2E", "1Ei", ".5",
     "12n", "3u", "+4", " 2 ", "1 Gi", 5, 2.25],
)  # fmt: skip
def test_quantities_parse_as_kubernetes_does(quantity: str | int | float) -> None:
    assert parse_quantity(quantity) == kubernetes_quantity.parse_quantity(quantity)


@pytest.mark.parametrize("quantity", ["", "abc", "1ki", "1.2.3", "Gi", "1GiB", "1 2"])
def test_bad_quantities_are_refused(quantity: str) -> None:
    with pytest.raises(ValueError):
        parse_quantity(quantity)
    with pytest.raises(ValueError):
        kubernetes_quantity.parse_quantity(quantity)
