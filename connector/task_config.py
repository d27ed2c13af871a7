"""``MMCloudConfig``: the task-side configuration, a superset of the upstream plugin's.

Upstream has one field, ``submit_extra``: a string of ``float submit`` flags. People put the same
handful of options in it (VM policy, migration, data volumes, tags, instance type, time limit), and
a typo there only surfaces when the job is submitted. Here those options are typed fields, checked
when the task is declared.

The typed fields are *rendered into* ``submit_extra`` flags rather than sent as new ``custom``
keys, because:

- the task's ``custom`` keeps exactly upstream's schema (``submit_extra``, ``resources``), so a task
  declared with this config also runs on the upstream connector (it passes the flags to ``float``
  verbatim), and tasks declared with upstream's config run on ours: one wire format;
- ``connector/submit_extra.py`` stays the one place that knows the flags; the Lambda is unchanged;
- declaring a task runs that same parser over the rendered string, so anything the connector
  would refuse at CreateTask (an unknown flag, a flag given twice) is refused at decoration time.

No flytekit here: the task class that consumes this lives in ``connector/flytekit_task.py``.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from connector.errors import InvalidArgument
from connector.opcenter.wire import Submit
from connector.submit_extra import FLAGS, parse_submit_extra


class VMPolicy(StrEnum):
    """Which VMs OpCenter may start for the job (``--vmPolicy [<value>=true]``)."""

    SPOT_ONLY = "spotOnly"
    ON_DEMAND = "onDemand"
    SPOT_FIRST = "spotFirst"


class MigratePolicy(StrEnum):
    """Whether OpCenter may live-migrate ("float") the job (``--migratePolicy [<value>=true]``)."""

    ENABLE = "enable"
    DISABLE = "disable"


# An instance type such as m5.large, c6i.2xlarge, Standard_D4s_v5.
_INSTANCE_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# A tag key: the CLI splits "--customTag key:value" at the first colon.
_TAG_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-/]*$")


@dataclass(frozen=True)
class MMCloudConfig:
    """Configures an ``MMCloudTask``: the task runs as a Memory Machine Cloud job.

    Every field is optional; ``MMCloudConfig()`` runs with OpCenter's defaults.

    Attributes:
        submit_extra: more ``float submit`` flags, as upstream (e.g. ``"--securityGroup sg-1"``).
        vm_policy: ``spotOnly``, ``onDemand`` or ``spotFirst`` (a ``VMPolicy`` or its value).
        migrate_policy: ``enable`` or ``disable`` live migration (a ``MigratePolicy`` or value).
        data_volumes: volumes in ``float``'s syntax, each ending in ``:/mount/point``, e.g.
            ``"[size=100]:/data"`` or ``"s3://bucket/prefix:/inputs"``.
        custom_tags: tags on the job, ``{"team": "ml"}``; they win over the connector's
            ``flyte-*`` tags of the same name.
        instance_type: a cloud instance type, e.g. ``"m5.xlarge"``.
        time_limit: wall-clock limit; a ``timedelta`` or whole seconds. OpCenter stops the job
            after it (status ``Timedout``, a failed task).
    """

    submit_extra: str = ""
    vm_policy: VMPolicy | str | None = None
    migrate_policy: MigratePolicy | str | None = None
    data_volumes: tuple[str, ...] | list[str] = ()
    custom_tags: Mapping[str, str] = field(default_factory=dict)
    instance_type: str | None = None
    time_limit: timedelta | int | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise once, here
        if not isinstance(self.submit_extra, str):
            raise _error(
                "submit_extra", f"must be a string of float flags, got {self.submit_extra!r}"
            )
        set_(self, "vm_policy", _enum("vm_policy", VMPolicy, self.vm_policy))
        set_(self, "migrate_policy", _enum("migrate_policy", MigratePolicy, self.migrate_policy))
        set_(self, "data_volumes", _data_volumes(self.data_volumes))
        set_(self, "custom_tags", _custom_tags(self.custom_tags))
        set_(self, "instance_type", _instance_type(self.instance_type))
        set_(self, "time_limit", _time_limit(self.time_limit))
        self._check_flags()

    def flags(self) -> list[str]:
        """The typed fields as ``float submit`` arguments (what the connector will parse)."""
        args: list[str] = []
        if self.vm_policy is not None:
            args += ["--vmPolicy", f"[{self.vm_policy}=true]"]
        if self.migrate_policy is not None:
            args += ["--migratePolicy", f"[{self.migrate_policy}=true]"]
        for volume in self.data_volumes:
            args += ["--dataVolume", volume]
        for key, value in self.custom_tags.items():
            args += ["--customTag", f"{key}:{value}"]
        if self.instance_type is not None:
            args += ["--instType", self.instance_type]
        if isinstance(self.time_limit, timedelta):
            args += ["--timeLimit", f"{int(self.time_limit.total_seconds())}s"]
        return args

    def rendered_submit_extra(self) -> str:
        """``submit_extra`` as the task serialises it: the user's flags, then the typed ones."""
        typed = shlex.join(self.flags())
        return " ".join(part for part in (self.submit_extra.strip(), typed) if part)

    def _check_flags(self) -> None:
        """Refuse now what the connector would refuse at CreateTask, naming the field."""
        try:
            given = parse_submit_extra(self.submit_extra)
        except InvalidArgument as exc:
            raise _error("submit_extra", exc.message.split(": ", 1)[-1]) from None
        for flag, name, set_here in (
            ("--vmPolicy", "vm_policy", self.vm_policy is not None),
            ("--migratePolicy", "migrate_policy", self.migrate_policy is not None),
            ("--instType", "instance_type", self.instance_type is not None),
            ("--timeLimit", "time_limit", self.time_limit is not None),
        ):
            if set_here and FLAGS[flag].field in given:
                raise _error(name, f"is also given as {flag} in submit_extra; keep one of them")
        shared = set(given.get(Submit.CUSTOM_TAGS, {})) & set(self.custom_tags)
        if shared:
            raise _error(
                "custom_tags", f"{sorted(shared)} also given as --customTag in submit_extra"
            )
        try:
            parse_submit_extra(self.rendered_submit_extra())
        except InvalidArgument as exc:  # e.g. a data volume that reads as a flag
            raise _error("submit_extra", exc.message.split(": ", 1)[-1]) from None


def _error(name: str, problem: str) -> ValueError:
    return ValueError(f"MMCloudConfig.{name} {problem}")


def _enum(name: str, kind: type[StrEnum], value: Any) -> Any:
    if value is None or isinstance(value, kind):
        return value
    for member in kind:
        if isinstance(value, str) and value.lower() == member.value.lower():
            return member
    choices = ", ".join(repr(m.value) for m in kind)
    raise _error(name, f"is {value!r}; choose one of {choices}")


def _data_volumes(value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise _error("data_volumes", f"must be a list of volume strings, got {value!r}")
    volumes = tuple(value)
    for i, volume in enumerate(volumes):
        if not isinstance(volume, str) or not volume.strip():
            raise _error(f"data_volumes[{i}]", f"must be a non-empty string, got {volume!r}")
        source, sep, mount = volume.rpartition(":")
        # "s3://bucket" alone splits into "s3" and "//bucket": a URL, not a mount point.
        if not sep or not source or not mount.startswith("/") or mount.startswith("//"):
            raise _error(
                f"data_volumes[{i}]",
                f"{volume!r} must end with ':/mount/point', e.g. '[size=100]:/data' or "
                "'s3://bucket/prefix:/inputs'",
            )
    return volumes


def _custom_tags(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise _error("custom_tags", f"must be a mapping of tag names to values, got {value!r}")
    tags: dict[str, str] = {}
    for key, tag in value.items():
        if not isinstance(key, str) or not _TAG_KEY.fullmatch(key):
            raise _error(
                "custom_tags",
                f"key {key!r} must be letters, digits and _ . - / (no colon or space)",
            )
        if not isinstance(tag, str | int | float) or isinstance(tag, bool):
            raise _error(f"custom_tags[{key!r}]", f"must be a string, got {tag!r}")
        tags[key] = str(tag)
    return tags


def _instance_type(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _INSTANCE_TYPE.fullmatch(value):
        raise _error("instance_type", f"{value!r} is not an instance type such as 'm5.xlarge'")
    return value


def _time_limit(value: Any) -> timedelta | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | timedelta):
        raise _error("time_limit", f"must be a timedelta or whole seconds, got {value!r}")
    limit = value if isinstance(value, timedelta) else timedelta(seconds=value)
    if limit.total_seconds() < 1 or limit.total_seconds() != int(limit.total_seconds()):
        raise _error("time_limit", f"must be a positive whole number of seconds, got {limit}")
    return limit
