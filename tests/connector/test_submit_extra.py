import pytest

from connector.errors import InvalidArgument
from connector.submit_extra import parse_submit_extra


def test_known_flags_become_request_fields() -> None:
    fields = parse_submit_extra(
        "--vmPolicy [spotFirst=true,retryLimit=3] --migratePolicy [disable=true] "
        "--dataVolume [size=10]:/data --dataVolume s3://bucket:/in --imageVolSize 20 "
        "--instType c5.large --gpu-count 1 --timeLimit 2h --customTag team:ml "
        "--customTag=cost-center:42 --name my-job --withRoot --disableRerun=false"
    )
    assert fields == {
        "vmPolicy": "[spotFirst=true,retryLimit=3]",
        "migratePolicy": "[disable=true]",
        "dataVolumes": ["[size=10]:/data", "s3://bucket:/in"],
        "imageVolSize": 20,
        "instType": "c5.large",
        "gpuCount": 1,
        "timeLimit": "2h",
        "customTags": {"team": "ml", "cost-center": "42"},
        "name": "my-job",
        "withRoot": True,
        "disableRerun": False,
    }


def test_empty_and_force_are_fine() -> None:
    assert parse_submit_extra("") == {}
    assert parse_submit_extra("--force") == {}


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("--bogus 1", "--bogus"),
        ("--vmPolicy", "--vmPolicy needs a value"),
        ("--vmPolicy spot", "--vmPolicy takes a bracketed list"),
        ("--imageVolSize big", "--imageVolSize takes a positive whole number"),
        ("--job script.sh", "--job"),
        ("--name a --name b", "--name is given more than once"),
        ("stray", "unexpected value 'stray'"),
        ("--cpu 4:2", "--cpu minimum exceeds maximum"),
        ("--customTag novalue", "--customTag takes KEY:VALUE"),
        ("--customTag k:a --customTag k:b", "--customTag k: is given more than once"),
        ("--timeLimit soon", "--timeLimit takes a positive duration"),
        ("--timeLimit 0s", "--timeLimit takes a positive duration"),
        ("--vmPolicy '[spotOnly=true]", "cannot split"),
    ],
)
def test_bad_flags_are_errors_that_name_them(text: str, named: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        parse_submit_extra(text)
    assert err.value.field == "template.custom.submit_extra"
    assert named in str(err.value)


@pytest.mark.parametrize("limit", ["90", "3600s", "90m", "1h30m", "2.5h"])
def test_time_limits_in_go_duration_syntax_or_seconds_are_kept(limit: str) -> None:
    assert parse_submit_extra(f"--timeLimit {limit}") == {"timeLimit": limit}
