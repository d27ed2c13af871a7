"""Translate the ``float submit`` flags users put in ``submit_extra`` into job request fields.

Upstream passes ``submit_extra`` to the ``float`` CLI verbatim. We speak REST, so each flag we know
becomes a request field; any other flag is an error naming it, never silently dropped.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from connector.errors import InvalidArgument
from connector.opcenter.wire import Submit

FIELD = "template.custom.submit_extra"

_POLICY_RE = re.compile(
    r"^\[\s*[A-Za-z]+\s*=\s*[^,\[\]=]+(\s*,\s*[A-Za-z]+\s*=\s*[^,\[\]=]+)*\s*\]$"
)


def _text(flag: str, value: str) -> str:
    if not value:
        raise InvalidArgument(FIELD, f"{flag} needs a value")
    return value


def _positive_int(flag: str, value: str) -> int:
    if not value.isdigit() or int(value) <= 0:
        raise InvalidArgument(FIELD, f"{flag} takes a positive whole number, got {value!r}")
    return int(value)


def _policy(flag: str, value: str) -> str:
    """``[spotFirst=true,retryLimit=3]``: the CLI's bracketed key=value list."""
    if not _POLICY_RE.match(value):
        raise InvalidArgument(
            FIELD, f"{flag} takes a bracketed list such as [spotFirst=true], got {value!r}"
        )
    return value


def _resource(flag: str, value: str) -> str:
    parts = value.split(":")
    if len(parts) > 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise InvalidArgument(FIELD, f"{flag} takes N or MIN:MAX (positive numbers), got {value!r}")
    if len(parts) == 2 and int(parts[0]) > int(parts[1]):
        raise InvalidArgument(FIELD, f"{flag} minimum exceeds maximum in {value!r}")
    return value


# Go's duration syntax (``float`` is a Go program), or whole seconds: 90, 90s, 1h30m, 2.5h.
_DURATION_RE = re.compile(r"^(?:\d+|(?:\d+(?:\.\d+)?(?:h|m|s|ms))+)$")


def _duration(flag: str, value: str) -> str:
    if not _DURATION_RE.match(value) or not any(c in "123456789" for c in value):
        raise InvalidArgument(
            FIELD, f"{flag} takes a positive duration such as 3600s, 90m or 2h, got {value!r}"
        )
    return value


def _env(flag: str, value: str) -> str:
    if "=" not in value or value.startswith("="):
        raise InvalidArgument(FIELD, f"{flag} takes KEY=VALUE, got {value!r}")
    return value


def _tag(flag: str, value: str) -> tuple[str, str]:
    key, sep, val = value.partition(":")
    if not sep or not key:
        raise InvalidArgument(FIELD, f"{flag} takes KEY:VALUE, got {value!r}")
    return key, val


@dataclass(frozen=True)
class Flag:
    field: str
    parse: Callable[[str, str], Any] | None  # None: a switch that takes no value
    repeatable: bool = False


# The flags of `float submit` we translate, by the request field each one sets.
FLAGS: dict[str, Flag] = {
    "--vmPolicy": Flag(Submit.VM_POLICY, _policy),
    "--migratePolicy": Flag(Submit.MIGRATE_POLICY, _policy),
    "--dataVolume": Flag(Submit.DATA_VOLUMES, _text, repeatable=True),
    "--imageVolSize": Flag(Submit.IMAGE_VOL_SIZE, _positive_int),
    "--rootVolSize": Flag(Submit.ROOT_VOL_SIZE, _positive_int),
    "--instType": Flag(Submit.INST_TYPE, _text),
    "--gpu-count": Flag(Submit.GPU_COUNT, _positive_int),
    "--timeLimit": Flag(Submit.TIME_LIMIT, _duration),
    "--securityGroup": Flag(Submit.SECURITY_GROUP, _text),
    "--customTag": Flag(Submit.CUSTOM_TAGS, _tag, repeatable=True),
    "--name": Flag(Submit.NAME, _text),
    "--hostInit": Flag(Submit.HOST_INIT, _text),
    "--dirMap": Flag(Submit.DIR_MAP, _text, repeatable=True),
    "--allowList": Flag(Submit.ALLOW_LIST, _text),
    "--extraContainerOpts": Flag(Submit.EXTRA_CONTAINER_OPTS, _text),
    "--withRoot": Flag(Submit.WITH_ROOT, None),
    "--disableRerun": Flag(Submit.DISABLE_RERUN, None),
    # These override or extend what the connector derives from the task.
    "--cpu": Flag(Submit.CPU, _resource),
    "--mem": Flag(Submit.MEM, _resource),
    "--image": Flag(Submit.IMAGE, _text),
    "--env": Flag(Submit.ENVS, _env, repeatable=True),
}

# Flags that make no sense here, with the reason a user needs to hear.
REFUSED = {
    "--job": "the connector builds the job script from the task; remove --job",
    "--force": None,  # upstream passes it to skip a prompt; there is no prompt over REST
}


def parse_submit_extra(text: str) -> dict[str, Any]:
    """Request fields for the flags in ``text``; repeatable flags become lists (tags a dict)."""
    try:
        tokens = shlex.split(text or "")
    except ValueError as exc:
        raise InvalidArgument(FIELD, f"cannot split {text!r}: {exc}") from None
    fields: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        name, has_inline, inline = token.partition("=")
        if token in REFUSED or name in REFUSED:
            reason = REFUSED.get(token if token in REFUSED else name)
            if reason is None:
                continue
            raise InvalidArgument(FIELD, f"{name}: {reason}")
        flag = FLAGS.get(name)
        if flag is None:
            what = "unknown flag" if token.startswith("-") else "unexpected value"
            raise InvalidArgument(
                FIELD,
                f"{what} {name!r}; supported flags: {', '.join(sorted(FLAGS))}",
            )
        if flag.parse is None:
            value: Any = _switch(name, inline) if has_inline else True
        else:
            if has_inline:
                raw = inline
            elif i < len(tokens) and not tokens[i].startswith("--"):
                raw = tokens[i]
                i += 1
            else:
                raise InvalidArgument(FIELD, f"{name} needs a value")
            value = flag.parse(name, raw)
        _store(fields, name, flag, value)
    return fields


def _switch(flag: str, value: str) -> bool:
    lowered = value.lower()
    if lowered not in {"true", "false"}:
        raise InvalidArgument(FIELD, f"{flag} is a switch; use {flag} or {flag}=false")
    return lowered == "true"


def _store(fields: dict[str, Any], name: str, flag: Flag, value: Any) -> None:
    if flag.field == Submit.CUSTOM_TAGS:
        key, val = value
        tags = fields.setdefault(flag.field, {})
        if key in tags:
            raise InvalidArgument(FIELD, f"{name} {key}: is given more than once")
        tags[key] = val
    elif flag.repeatable:
        fields.setdefault(flag.field, []).append(value)
    elif flag.field in fields:
        raise InvalidArgument(FIELD, f"{name} is given more than once")
    else:
        fields[flag.field] = value
