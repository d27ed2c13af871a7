"""Turn a Flyte ``TaskTemplate`` (task type ``mmcloud_task``) into an OpCenter job request.

Works on flyteidl protobuf messages only: this runs in the Lambda, where flytekit is not imported.
The ``custom`` schema is the upstream plugin's, so tasks written with ``MMCloudConfig`` run as-is:
``{"submit_extra": str, "resources": [min_cpu, min_mem_gib, max_cpu, max_mem_gib]}``.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from flyteidl.admin.agent_pb2 import TaskExecutionMetadata
from flyteidl.core.tasks_pb2 import TaskTemplate
from google.protobuf import json_format

from connector.errors import InvalidArgument
from connector.opcenter.wire import Submit
from connector.submit_extra import parse_submit_extra

TASK_TYPE = "mmcloud_task"

_UNRENDERED = re.compile(r"\{\{\s*\.[A-Za-z]+\s*\}\}")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TAG_VALUE_MAX = 256


def job_request(
    template: TaskTemplate, metadata: TaskExecutionMetadata | None = None
) -> dict[str, Any]:
    """The ``POST /api/v1/jobs`` body for ``template``; ``InvalidArgument`` names a bad field."""
    if template.type != TASK_TYPE:
        raise InvalidArgument(
            "template.type", f"is {template.type!r}; this connector runs {TASK_TYPE!r}"
        )
    if not template.HasField("container"):
        raise InvalidArgument("template.container", "is missing; an MMCloud task runs a container")
    container = template.container
    if not container.image:
        raise InvalidArgument("template.container.image", "is empty")

    custom = _custom(template)
    min_cpu, min_mem, max_cpu, max_mem = _resources(custom.get("resources"))
    extra = parse_submit_extra(_submit_extra(custom.get("submit_extra")))

    envs = [f"{k}={v}" for k, v in _env(template, metadata).items()]
    tags = _tags(template, metadata)
    tags.update(extra.pop(Submit.CUSTOM_TAGS, {}))

    body: dict[str, Any] = {
        Submit.IMAGE: container.image,
        Submit.CPU: _range(min_cpu, max_cpu),
        Submit.MEM: _range(min_mem, max_mem),
        Submit.JOB_CONTENT: job_script(list(container.args), list(container.command)),
        Submit.ENVS: envs + extra.pop(Submit.ENVS, []),
        Submit.CUSTOM_TAGS: tags,
        Submit.NAME: _job_name(template, metadata),
    }
    body.update(extra)  # explicit flags win over what the task implies
    return body


def job_script(args: list[str], command: list[str] | None = None) -> str:
    """A bash script that runs the task's (already rendered) command line, safely quoted."""
    argv = [*(command or []), *args]
    if not argv:
        raise InvalidArgument("template.container.args", "is empty; there is nothing to run")
    for i, arg in enumerate(argv):
        if _UNRENDERED.search(arg):
            raise InvalidArgument(
                "template.container.args",
                f"argument {i} still holds a template variable ({arg!r}); "
                "the caller must render it before CreateTask",
            )
    # exec: the task process gets OpCenter's signals (cancel) directly.
    return f"#!/bin/bash\nexec {shlex.join(argv)}\n"


#: The keys of upstream's ``custom`` schema; ``MMCloudTask`` renders its typed options into them.
CUSTOM_KEYS = ("submit_extra", "resources")


def _custom(template: TaskTemplate) -> dict[str, Any]:
    if not template.HasField("custom"):
        return {}
    custom = json_format.MessageToDict(template.custom)
    for key in custom:
        if key not in CUSTOM_KEYS:
            raise InvalidArgument(
                f"template.custom.{key}",
                f"is not an option this connector knows (it reads {', '.join(CUSTOM_KEYS)})",
            )
    return custom


def _submit_extra(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidArgument("template.custom.submit_extra", "must be a string of float flags")
    return value


def _resources(value: Any) -> tuple[int, int, int | None, int | None]:
    """``[min_cpu, min_mem_gib, max_cpu, max_mem_gib]``, values as strings, numbers or null."""
    field = "template.custom.resources"
    if value is None:
        return 1, 1, None, None
    if not isinstance(value, list) or len(value) != 4:
        raise InvalidArgument(field, "must be [min_cpu, min_mem_gib, max_cpu, max_mem_gib]")
    names = ("min_cpu", "min_mem_gib", "max_cpu", "max_mem_gib")
    parsed = [_count(f"{field}.{name}", v) for name, v in zip(names, value, strict=True)]
    min_cpu, min_mem, max_cpu, max_mem = parsed
    # Upstream: the limit is the request when no request is given; else 1 cpu and 1 GiB.
    min_cpu = min_cpu or max_cpu or 1
    min_mem = min_mem or max_mem or 1
    if max_cpu is not None and min_cpu > max_cpu:
        raise InvalidArgument(field, f"cpu request {min_cpu} exceeds cpu limit {max_cpu}")
    if max_mem is not None and min_mem > max_mem:
        raise InvalidArgument(field, f"memory request {min_mem} GiB exceeds limit {max_mem} GiB")
    return min_cpu, min_mem, max_cpu, max_mem


def _count(field: str, value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidArgument(field, f"{value!r} is not a number") from None
    if number != int(number) or number < 1:
        raise InvalidArgument(field, f"{value!r} must be a whole number of at least 1")
    return int(number)


def _range(low: int, high: int | None) -> str:
    return f"{low}:{high}" if high is not None else str(low)


# pyflyte-execute exits 0 after a user error (it writes error.pb, which FlytePropeller reads
# for pods but not for connector tasks), so the job would be Completed and the task "succeed".
JOB_ENV_DEFAULTS = {"FLYTE_FAIL_ON_ERROR": "true"}


def _env(template: TaskTemplate, metadata: TaskExecutionMetadata | None) -> dict[str, str]:
    """Our defaults, the platform's variables from the metadata, then the task's own (which win)."""
    env = dict(JOB_ENV_DEFAULTS)
    if metadata is not None:
        env.update(metadata.environment_variables)
    for i, pair in enumerate(template.container.env):
        env[pair.key] = pair.value
        if not _ENV_NAME.match(pair.key):
            raise InvalidArgument(
                f"template.container.env[{i}].key", f"{pair.key!r} is not a valid variable name"
            )
    return env


def _tags(template: TaskTemplate, metadata: TaskExecutionMetadata | None) -> dict[str, str]:
    """Tags that let a person find the Flyte execution behind an MMCloud job, and back."""
    tags = {"flyte-task": template.id.name} if template.id.name else {}
    if metadata is None or not metadata.HasField("task_execution_id"):
        return tags
    tid = metadata.task_execution_id
    wf = tid.node_execution_id.execution_id
    tags.update(
        {
            "flyte-project": wf.project,
            "flyte-domain": wf.domain,
            "flyte-execution": wf.name,
            "flyte-node": tid.node_execution_id.node_id,
            "flyte-retry": str(tid.retry_attempt),
        }
    )
    if metadata.namespace:
        tags["flyte-namespace"] = metadata.namespace
    return {k: v[:_TAG_VALUE_MAX] for k, v in tags.items() if v}


def _job_name(template: TaskTemplate, metadata: TaskExecutionMetadata | None) -> str:
    if metadata is not None and metadata.HasField("task_execution_id"):
        tid = metadata.task_execution_id
        name = (
            f"{tid.node_execution_id.execution_id.name}-{tid.node_execution_id.node_id}"
            f"-{tid.retry_attempt}"
        )
    else:
        name = template.id.name.rsplit(".", 1)[-1] or "flyte-task"
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name)[:128]
