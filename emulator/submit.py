"""Validation of the ``POST /api/v1/jobs`` body.

The emulator is stricter than it needs to be on purpose: a client bug caught here (a number where
OpCenter takes a string, an env entry without ``=``) is one that does not reach a real OpCenter.
Every error names the offending field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from connector.opcenter.wire import Submit
from emulator.errors import invalid_argument

#: Every field name the body may carry, read off ``wire.Submit`` so there is one list of them.
KNOWN_FIELDS: frozenset[str] = frozenset(
    value for key, value in vars(Submit).items() if key.isupper() and isinstance(value, str)
)

#: Fields with a dedicated check below; the others are stored as given if they are scalars.
_TYPED_FIELDS = frozenset(
    {
        Submit.IMAGE,
        Submit.JOB_CONTENT,
        Submit.CPU,
        Submit.MEM,
        Submit.ENVS,
        Submit.CUSTOM_TAGS,
        Submit.DATA_VOLUMES,
        Submit.NAME,
    }
)

_RANGE_RE = re.compile(r"^(\d+)(?::(\d+))?$")
DEFAULT_RANGE = "1"


@dataclass(frozen=True)
class ResourceRange:
    """A ``"N"`` or ``"N:M"`` request; the emulator 'provisions' the minimum."""

    text: str
    minimum: int
    maximum: int


@dataclass(frozen=True)
class SubmitRequest:
    """A validated submission."""

    image: str
    job_content: str
    cpu: ResourceRange
    mem: ResourceRange
    envs: tuple[tuple[str, str], ...] = ()
    custom_tags: dict[str, str] = field(default_factory=dict)
    data_volumes: tuple[str, ...] = ()
    name: str | None = None
    #: The remaining ``wire.Submit`` fields, stored as given.
    extra: dict[str, str | int | bool] = field(default_factory=dict)


def parse_submit(body: Any) -> SubmitRequest:
    """Check a decoded JSON body; raise the invalid-argument error naming the first bad field."""
    if not isinstance(body, dict):
        raise invalid_argument("request body must be a JSON object")
    unknown = sorted(str(key) for key in body if key not in KNOWN_FIELDS)
    if unknown:
        raise invalid_argument(f"unknown field {unknown[0]!r}")
    # JSON null reads as "not given", as it does for OpCenter's Go decoder.
    given = {key: value for key, value in body.items() if value is not None}

    extra: dict[str, str | int | bool] = {}
    for key, value in given.items():
        if key in _TYPED_FIELDS:
            continue
        if not isinstance(value, str | int | bool):
            raise invalid_argument(f"field {key!r} must be a string, integer or boolean")
        extra[key] = value

    return SubmitRequest(
        image=_required_string(given, Submit.IMAGE, allow_empty=False),
        job_content=_required_string(given, Submit.JOB_CONTENT, allow_empty=True),
        cpu=_range(given, Submit.CPU),
        mem=_range(given, Submit.MEM),
        envs=_envs(given),
        custom_tags=_tags(given),
        data_volumes=_string_list(given, Submit.DATA_VOLUMES),
        name=_optional_name(given),
        extra=extra,
    )


def _required_string(given: dict[str, Any], key: str, *, allow_empty: bool) -> str:
    if key not in given:
        raise invalid_argument(f"field {key!r} is required")
    value = given[key]
    if not isinstance(value, str):
        raise invalid_argument(f"field {key!r} must be a string")
    if not allow_empty and not value.strip():
        raise invalid_argument(f"field {key!r} must not be empty")
    return value


def _range(given: dict[str, Any], key: str) -> ResourceRange:
    value = given.get(key, DEFAULT_RANGE)
    if not isinstance(value, str):
        raise invalid_argument(f'field {key!r} must be a string like "2" or "2:4"')
    match = _RANGE_RE.fullmatch(value.strip())
    if match is None:
        raise invalid_argument(f'field {key!r} must look like "2" or "2:4", got {value!r}')
    low = int(match.group(1))
    high = int(match.group(2)) if match.group(2) is not None else low
    if low < 1:
        raise invalid_argument(f"field {key!r} must be at least 1, got {value!r}")
    if high < low:
        raise invalid_argument(f"field {key!r}: minimum exceeds maximum in {value!r}")
    return ResourceRange(text=value.strip(), minimum=low, maximum=high)


def _envs(given: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for index, entry in enumerate(_string_list(given, Submit.ENVS)):
        key, sep, value = entry.partition("=")
        if not sep or not key:
            raise invalid_argument(f"field {Submit.ENVS!r}[{index}] must look like K=V")
        if "\0" in entry:
            raise invalid_argument(f"field {Submit.ENVS!r}[{index}] contains a NUL byte")
        pairs.append((key, value))
    return tuple(pairs)


def _tags(given: dict[str, Any]) -> dict[str, str]:
    value = given.get(Submit.CUSTOM_TAGS, {})
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise invalid_argument(f"field {Submit.CUSTOM_TAGS!r} must map strings to strings")
    return dict(value)


def _string_list(given: dict[str, Any], key: str) -> tuple[str, ...]:
    value = given.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise invalid_argument(f"field {key!r} must be a list of strings")
    return tuple(value)


def _optional_name(given: dict[str, Any]) -> str | None:
    value = given.get(Submit.NAME)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise invalid_argument(f"field {Submit.NAME!r} must be a non-empty string")
    return value
