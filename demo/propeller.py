"""What FlytePropeller does for one connector task, done by hand over the connector's HTTP API.

For a task of type ``mmcloud_task`` FlytePropeller (v1, connector plugin):

1. takes the ``TaskTemplate`` flytekit serialised at registration (here: serialised on the spot);
2. writes the task inputs as a ``LiteralMap`` to ``<blob store>/.../inputs.pb``;
3. renders the template's ``container.args`` (``{{.input}}``, ``{{.outputPrefix}}``, ...) and
   adds the deployment's environment (pod template) to the container;
4. calls ``CreateTask`` with the template, the inputs, the output prefix and a
   ``TaskExecutionMetadata``;
5. polls ``GetTask`` until the phase is terminal, then reads ``<output prefix>/outputs.pb``;
6. calls ``DeleteTask`` only when the execution is aborted.

This module does the same against the app's grpc-gateway style HTTP routes (DESIGN section 2), with
local directories as the blob store, so ``pyflyte-execute`` inside the (emulated) MMCloud job reads
its inputs from and writes its outputs to this machine's file system.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

import httpx
from flyteidl.admin import agent_pb2
from flyteidl.core import errors_pb2, execution_pb2, identifier_pb2, literals_pb2, tasks_pb2
from flytekit import FlyteContextManager
from flytekit.configuration import ImageConfig, SerializationSettings
from flytekit.core.base_task import PythonTask
from flytekit.core.type_engine import TypeEngine
from flytekit.models.literals import LiteralMap
from flytekit.tools.translator import get_serializable
from google.protobuf import json_format

from connector.job_request import job_request
from connector.opcenter.wire import Submit
from demo.constants import DOMAIN, NAMESPACE, PROJECT, TASK_TYPE, TASK_TYPE_VERSION

#: The repository root: the job process needs it on ``PYTHONPATH`` to import ``examples.workflows``.
REPO_ROOT = Path(__file__).resolve().parents[1]

PHASE = execution_pb2.TaskExecution
#: Phases after which propeller never polls again.
TERMINAL_PHASES = frozenset({PHASE.SUCCEEDED, PHASE.FAILED, PHASE.ABORTED, PHASE.RETRYABLE_FAILED})

#: Propeller's default per-call timeout toward a connector.
CALL_TIMEOUT_S = 10.0
#: Propeller tolerates this many GetTask errors over a task's lifetime, then gives up.
MAX_GET_FAILURES = 5


def phase_name(phase: int) -> str:
    """The phase as flyteidl spells it (``QUEUED``, ``RUNNING``, ``SUCCEEDED``...)."""
    try:
        return execution_pb2.TaskExecution.Phase.Name(phase)
    except ValueError:
        return f"PHASE_{phase}"


# ------------------------------------------------------------------------------------------------
# 1. Serialisation
# ------------------------------------------------------------------------------------------------


def serialization_settings(version: str = "demo") -> SerializationSettings:
    """Settings like ``pyflyte register`` uses: default image config, the demo project/domain."""
    return SerializationSettings(
        image_config=ImageConfig.auto_default_image(),
        project=PROJECT,
        domain=DOMAIN,
        version=version,
    )


def serialize_task(task: PythonTask, *, version: str = "demo") -> tasks_pb2.TaskTemplate:
    """The ``TaskTemplate`` flytekit registers for ``task`` (unrendered ``{{...}}`` args)."""
    spec = get_serializable(OrderedDict(), serialization_settings(version), task)
    template = spec.template.to_flyte_idl()
    assert isinstance(template, tasks_pb2.TaskTemplate)
    return template


# ------------------------------------------------------------------------------------------------
# 2. The "blob store": local directories
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExecutionPaths:
    """Where one task execution's data lives, ``<blob dir>/<execution name>/...``."""

    root: Path

    @property
    def inputs(self) -> Path:
        return self.root / "inputs.pb"

    @property
    def output_prefix(self) -> Path:
        return self.root / "out"

    @property
    def outputs(self) -> Path:
        return self.output_prefix / "outputs.pb"

    @property
    def error_document(self) -> Path:
        return self.output_prefix / "error.pb"

    @property
    def raw_output_prefix(self) -> Path:
        return self.root / "raw"

    @property
    def checkpoint_prefix(self) -> Path:
        return self.root / "checkpoint"

    @property
    def task_template(self) -> Path:
        return self.root / "task.pb"

    def create(self) -> None:
        for directory in (self.root, self.output_prefix, self.raw_output_prefix):
            directory.mkdir(parents=True, exist_ok=True)


def inputs_to_literal_map(task: PythonTask, values: Mapping[str, Any]) -> literals_pb2.LiteralMap:
    """Python input values -> flyteidl ``LiteralMap``, typed by the task's interface."""
    expected = dict(task.python_interface.inputs)
    unknown = sorted(set(values) - set(expected))
    missing = sorted(
        set(expected) - set(values) - set(task.python_interface.default_inputs_as_kwargs)
    )
    if unknown or missing:
        raise ValueError(
            f"inputs for {task.name} do not match its interface {sorted(expected)}: "
            f"unknown {unknown}, missing {missing}"
        )
    ctx = FlyteContextManager.current_context()
    literal_map = TypeEngine.dict_to_literal_map(
        ctx, dict(values), type_hints={k: expected[k] for k in values}
    )
    pb = literal_map.to_flyte_idl()
    assert isinstance(pb, literals_pb2.LiteralMap)
    return pb


def write_literal_map(literal_map: literals_pb2.LiteralMap, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(literal_map.SerializeToString())


def read_literal_map(path: Path) -> literals_pb2.LiteralMap:
    literal_map = literals_pb2.LiteralMap()
    literal_map.ParseFromString(path.read_bytes())
    return literal_map


def outputs_to_python(task: PythonTask, literal_map: literals_pb2.LiteralMap) -> dict[str, Any]:
    """flyteidl ``LiteralMap`` of the task's outputs -> Python values, by the task's interface."""
    ctx = FlyteContextManager.current_context()
    types = dict(task.python_interface.outputs)
    values = TypeEngine.literal_map_to_kwargs(
        ctx, LiteralMap.from_flyte_idl(literal_map), python_types=types
    )
    return {name: values[name] for name in types if name in values}  # interface order


def read_error_document(output_prefix: Path) -> str | None:
    """The user-facing error ``pyflyte-execute`` wrote to ``<output prefix>/error.pb``, if any."""
    path = output_prefix / "error.pb"
    if not path.exists():
        return None
    document = errors_pb2.ErrorDocument()
    document.ParseFromString(path.read_bytes())
    return document.error.message or None


# ------------------------------------------------------------------------------------------------
# 3. Rendering container args, as propeller's template renderer does
# ------------------------------------------------------------------------------------------------

_TEMPLATE_VAR = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


class TemplateError(ValueError):
    """An arg holds a ``{{...}}`` variable propeller would not know how to fill."""


def _literal_as_arg(name: str, literal: literals_pb2.Literal) -> str:
    if literal.HasField("scalar"):
        scalar = literal.scalar
        if scalar.HasField("primitive"):
            primitive = scalar.primitive
            kind = primitive.WhichOneof("value")
            if kind == "integer":
                return str(primitive.integer)
            if kind == "float_value":
                return repr(primitive.float_value)
            if kind == "string_value":
                return primitive.string_value
            if kind == "boolean":
                return "true" if primitive.boolean else "false"
            if kind == "datetime":
                return primitive.datetime.ToJsonString()
            if kind == "duration":
                return primitive.duration.ToJsonString()
        if scalar.HasField("blob"):
            return scalar.blob.uri
    raise TemplateError(
        f"input {name!r} is not a primitive or blob; it cannot be rendered into args"
    )


def render_args(
    args: Iterable[str],
    values: Mapping[str, str],
    inputs: literals_pb2.LiteralMap | None = None,
) -> list[str]:
    """Replace every ``{{.var}}`` in ``args``; an unknown variable is an error, never left behind.

    ``values`` maps variable names without the leading dot, case-insensitively (``input``,
    ``outputPrefix``, ...). ``{{.inputs.NAME}}`` renders input NAME from ``inputs``.
    """
    table = {key.lower(): value for key, value in values.items()}

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1).lstrip(".$")
        key = name.lower()
        if key in table:
            return table[key]
        if key.startswith("inputs.") and inputs is not None:
            input_name = name.split(".", 1)[1]
            if input_name in inputs.literals:
                return _literal_as_arg(input_name, inputs.literals[input_name])
        raise TemplateError(f"unknown template variable {match.group(0)!r}")

    return [_TEMPLATE_VAR.sub(substitute, arg) for arg in args]


def template_values(paths: ExecutionPaths, identity: ExecutionIdentity) -> dict[str, str]:
    """The values propeller substitutes into a task's container args."""
    return {
        "input": str(paths.inputs),
        "inputPrefix": str(paths.root),
        "outputPrefix": str(paths.output_prefix),
        "rawOutputDataPrefix": str(paths.raw_output_prefix),
        "checkpointOutputPrefix": str(paths.checkpoint_prefix),
        # No previous attempt wrote a checkpoint; pyflyte-execute treats "" as none.
        "prevCheckpointPrefix": "",
        "perRetryUniqueKey": identity.per_retry_unique_key,
        "taskTemplatePath": str(paths.task_template),
    }


# ------------------------------------------------------------------------------------------------
# 4. Execution identity, environment and the CreateTask request
# ------------------------------------------------------------------------------------------------


def new_execution_name() -> str:
    """An execution name shaped like Flyte's (a letter then 19 lowercase alphanumerics)."""
    return "d" + uuid.uuid4().hex[:19]


@dataclass(frozen=True)
class ExecutionIdentity:
    """Which workflow execution, node and attempt this task execution belongs to."""

    name: str
    node_id: str = "n0"
    retry_attempt: int = 0
    project: str = PROJECT
    domain: str = DOMAIN

    @property
    def per_retry_unique_key(self) -> str:
        raw = f"{self.project}/{self.domain}/{self.name}/{self.node_id}/{self.retry_attempt}"
        return hashlib.sha256(raw.encode()).hexdigest()[:20]


def _label_value(value: str) -> str:
    """A Kubernetes label value: <= 63 chars of [a-z0-9-_.], alphanumeric at both ends."""
    cleaned = re.sub(r"[^a-z0-9_.-]+", "-", value.lower())[:63]
    return cleaned.strip("-_.")


def job_environment(
    identity: ExecutionIdentity, template: tasks_pb2.TaskTemplate
) -> dict[str, str]:
    """The environment a propeller deployment's pod template would give this task's container.

    The serialised args start with ``pyflyte-execute`` and name the task by module
    (``task-module examples.workflows``). The emulated MMCloud job runs in a fresh directory with
    the emulator's environment, so it needs ``PATH`` to reach this venv's ``pyflyte-execute`` and
    ``PYTHONPATH`` to import ``examples``; the ``FLYTE_INTERNAL_*`` variables are the ones propeller
    sets in every task pod. (The connector itself adds ``FLYTE_FAIL_ON_ERROR=true`` to every job.)
    """
    return {
        "PATH": os.pathsep.join([str(pyflyte_execute_dir()), os.environ.get("PATH", os.defpath)]),
        "PYTHONPATH": str(REPO_ROOT),
        "FLYTE_INTERNAL_EXECUTION_ID": identity.name,
        "FLYTE_INTERNAL_EXECUTION_PROJECT": identity.project,
        "FLYTE_INTERNAL_EXECUTION_DOMAIN": identity.domain,
        "FLYTE_ATTEMPT_NUMBER": str(identity.retry_attempt),
        "FLYTE_INTERNAL_TASK_PROJECT": template.id.project,
        "FLYTE_INTERNAL_TASK_DOMAIN": template.id.domain,
        "FLYTE_INTERNAL_TASK_NAME": template.id.name,
        "FLYTE_INTERNAL_TASK_VERSION": template.id.version,
    }


def pyflyte_execute_dir() -> Path:
    """The directory holding the ``pyflyte-execute`` of the Python running this code."""
    here = Path(sys.executable).parent
    if (here / "pyflyte-execute").exists():
        return here
    found = shutil.which("pyflyte-execute")
    if found is None:
        raise RuntimeError(
            "pyflyte-execute not found next to this Python or on PATH; "
            "run the demo with the project's venv (.venv/bin/python -m demo)"
        )
    return Path(found).parent


def with_container_env(
    template: tasks_pb2.TaskTemplate, env: Mapping[str, str]
) -> tasks_pb2.TaskTemplate:
    """A copy of ``template`` whose container also has ``env``; the task's own entries win."""
    result = tasks_pb2.TaskTemplate()
    result.CopyFrom(template)
    present = {entry.key for entry in result.container.env}
    for key, value in env.items():
        if key not in present:
            result.container.env.add(key=key, value=value)
    return result


def task_execution_metadata(
    template: tasks_pb2.TaskTemplate, identity: ExecutionIdentity
) -> agent_pb2.TaskExecutionMetadata:
    """The ``TaskExecutionMetadata`` propeller sends with ``CreateTask``."""
    task_execution_id = identifier_pb2.TaskExecutionIdentifier(
        task_id=template.id,
        node_execution_id=identifier_pb2.NodeExecutionIdentifier(
            node_id=identity.node_id,
            execution_id=identifier_pb2.WorkflowExecutionIdentifier(
                project=identity.project, domain=identity.domain, name=identity.name
            ),
        ),
        retry_attempt=identity.retry_attempt,
    )
    return agent_pb2.TaskExecutionMetadata(
        task_execution_id=task_execution_id,
        namespace=NAMESPACE,
        labels={
            "execution-id": _label_value(identity.name),
            "node-id": _label_value(identity.node_id),
            "project": _label_value(identity.project),
            "domain": _label_value(identity.domain),
            "task-name": _label_value(template.id.name),
        },
        annotations={},
        k8s_service_account="default",
        max_attempts=max(1, template.metadata.retries.retries + 1),
        interruptible=template.metadata.interruptible,
    )


@dataclass
class PreparedExecution:
    """Everything propeller has in hand just before ``CreateTask``."""

    task: PythonTask
    identity: ExecutionIdentity
    paths: ExecutionPaths
    template: tasks_pb2.TaskTemplate  # rendered args, deployment env added
    inputs: literals_pb2.LiteralMap
    metadata: agent_pb2.TaskExecutionMetadata

    def create_request(self) -> agent_pb2.CreateTaskRequest:
        return agent_pb2.CreateTaskRequest(
            inputs=self.inputs,
            template=self.template,
            output_prefix=str(self.paths.output_prefix),
            task_execution_metadata=self.metadata,
        )

    @property
    def command(self) -> str:
        """The job script line: the rendered args as one shell command."""
        return shlex.join(self.template.container.args)

    @property
    def env(self) -> dict[str, str]:
        return {entry.key: entry.value for entry in self.template.container.env}


def prepare_execution(
    task: PythonTask,
    inputs: Mapping[str, Any],
    blob_dir: Path,
    *,
    execution_name: str | None = None,
    node_id: str = "n0",
) -> PreparedExecution:
    """Serialise ``task``, write its inputs, render its args and build the metadata."""
    identity = ExecutionIdentity(name=execution_name or new_execution_name(), node_id=node_id)
    paths = ExecutionPaths(Path(blob_dir).resolve() / identity.name)
    paths.create()

    template = serialize_task(task)
    paths.task_template.write_bytes(template.SerializeToString())
    literal_map = inputs_to_literal_map(task, inputs)
    write_literal_map(literal_map, paths.inputs)

    rendered = tasks_pb2.TaskTemplate()
    rendered.CopyFrom(template)
    del rendered.container.args[:]
    rendered.container.args.extend(
        render_args(template.container.args, template_values(paths, identity), literal_map)
    )
    rendered = with_container_env(rendered, job_environment(identity, template))
    return PreparedExecution(
        task=task,
        identity=identity,
        paths=paths,
        template=rendered,
        inputs=literal_map,
        metadata=task_execution_metadata(template, identity),
    )


def run_container_locally(
    template: tasks_pb2.TaskTemplate,
    *,
    cwd: Path,
    base_env: Mapping[str, str] | None = None,
    timeout: float = 120.0,
) -> subprocess.CompletedProcess[str]:
    """Run the job the connector would submit for ``template``, without OpCenter: its script, in
    ``cwd``, with ``base_env`` (default: a bare PATH/HOME) plus the job's env."""
    job = job_request(template)
    env = (
        dict(base_env)
        if base_env is not None
        else {
            "PATH": os.defpath,
            "HOME": os.environ.get("HOME", str(cwd)),
            "LANG": "C.UTF-8",
        }
    )
    env.update(entry.split("=", 1) for entry in job[Submit.ENVS])
    return subprocess.run(
        ["bash", "-c", job[Submit.JOB_CONTENT]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# ------------------------------------------------------------------------------------------------
# 5. The HTTP calls
# ------------------------------------------------------------------------------------------------


def resource_meta_for_path(resource_meta: bytes) -> str:
    """``resource_meta`` as it goes into a URL path: URL-safe base64 with padding."""
    return base64.urlsafe_b64encode(resource_meta).decode("ascii")


class ConnectorCallError(RuntimeError):
    """The app answered an agent call with an error (a ``google.rpc.Status`` body)."""

    def __init__(self, method: str, url: str, http_status: int, code: int | None, message: str):
        self.method = method
        self.url = url
        self.http_status = http_status
        self.code = code
        self.message = message
        super().__init__(f"{method} {url} -> HTTP {http_status} (code {code}): {message}")


class ConnectorClient:
    """The connector's AsyncAgentService over its HTTP routes, as the gateway would call it."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = CALL_TIMEOUT_S,
        task_type: str = TASK_TYPE,
        task_type_version: int = TASK_TYPE_VERSION,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.task_type = task_type
        self.task_type_version = task_type_version
        self._http = httpx.Client(base_url=base_url, timeout=timeout, transport=transport)

    def __enter__(self) -> ConnectorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = self._http.request(method, url, **kwargs)
        if response.status_code >= 400:
            code: int | None = None
            message = response.text
            try:
                body = response.json()
                if isinstance(body, dict):
                    code = body.get("code")
                    message = body.get("message", message)
            except ValueError:
                pass
            raise ConnectorCallError(method, url, response.status_code, code, message)
        return response

    def list_agents(self) -> agent_pb2.ListAgentsResponse:
        response = self._call("GET", "/api/v1/agents")
        return json_format.Parse(
            response.text, agent_pb2.ListAgentsResponse(), ignore_unknown_fields=True
        )

    def create_task(self, request: agent_pb2.CreateTaskRequest) -> bytes:
        """``CreateTask``; returns the ``resource_meta`` bytes."""
        response = self._call(
            "POST",
            "/api/v1/agent/task",
            content=json_format.MessageToJson(request),
            headers={"Content-Type": "application/json"},
        )
        parsed = json_format.Parse(
            response.text, agent_pb2.CreateTaskResponse(), ignore_unknown_fields=True
        )
        if not parsed.resource_meta:
            raise ConnectorCallError(
                "POST",
                "/api/v1/agent/task",
                response.status_code,
                None,
                f"response has no resourceMeta: {response.text[:200]}",
            )
        return parsed.resource_meta

    def _task_path(self, prefix: str, resource_meta: bytes) -> str:
        return (
            f"{prefix}/{self.task_type}/{self.task_type_version}/"
            f"{resource_meta_for_path(resource_meta)}"
        )

    def get_task(self, resource_meta: bytes, *, output_prefix: str) -> agent_pb2.Resource:
        """``GetTask``; returns the ``Resource`` (phase, message, outputs...)."""
        response = self._call(
            "GET",
            self._task_path("/api/v1/agent/task", resource_meta),
            params={"task_type": self.task_type, "output_prefix": output_prefix},
        )
        parsed = json_format.Parse(
            response.text, agent_pb2.GetTaskResponse(), ignore_unknown_fields=True
        )
        return parsed.resource

    def delete_task(self, resource_meta: bytes) -> None:
        """``DeleteTask``: what propeller calls when an execution is aborted."""
        self._call(
            "DELETE",
            self._task_path("/api/v1/agent/task_executions", resource_meta),
            params={"task_type": self.task_type},
        )


class AgentClient(Protocol):
    """The four calls propeller makes, whatever the transport: :class:`ConnectorClient` (HTTP to
    the app) or :class:`demo.grpc_client.GrpcConnectorClient` (gRPC to the gateway)."""

    def list_agents(self) -> agent_pb2.ListAgentsResponse: ...

    def create_task(self, request: agent_pb2.CreateTaskRequest) -> bytes: ...

    def get_task(self, resource_meta: bytes, *, output_prefix: str) -> agent_pb2.Resource: ...

    def delete_task(self, resource_meta: bytes) -> None: ...


# Propeller reads the deprecated ``state`` when ``phase`` is UNDEFINED.
_STATE_TO_PHASE = {
    agent_pb2.PENDING: PHASE.INITIALIZING,
    agent_pb2.RUNNING: PHASE.RUNNING,
    agent_pb2.SUCCEEDED: PHASE.SUCCEEDED,
    agent_pb2.PERMANENT_FAILURE: PHASE.FAILED,
    agent_pb2.RETRYABLE_FAILURE: PHASE.RETRYABLE_FAILED,
}


def resource_phase(resource: agent_pb2.Resource) -> int:
    if resource.phase != PHASE.UNDEFINED:
        return int(resource.phase)
    return int(_STATE_TO_PHASE.get(resource.state, PHASE.RETRYABLE_FAILED))


# ------------------------------------------------------------------------------------------------
# 6. Waiting, with a progress display
# ------------------------------------------------------------------------------------------------

_SPINNER = "|/-\\"


_LABEL_WIDTH = 17  # "[fail_on_purpose]", the longest example task


class ProgressReporter:
    """One line per phase change; between them a spinner line on a TTY, or a plain
    ``still <PHASE>`` line every ``heartbeat_s`` seconds when the output is not a terminal."""

    def __init__(
        self,
        label: str,
        stream: TextIO | None = None,
        *,
        interactive: bool | None = None,
        heartbeat_s: float = 10.0,
    ) -> None:
        self.label = label
        self._tag = f"[{label}]".ljust(_LABEL_WIDTH)  # phase columns line up across tasks
        self.stream = stream if stream is not None else sys.stdout
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.heartbeat_s = heartbeat_s
        self._spin = itertools.cycle(_SPINNER)
        self._spinner_shown = False
        self._last_line_at = 0.0

    def _clear(self) -> None:
        if self._spinner_shown:
            self.stream.write("\r\x1b[K")
            self._spinner_shown = False

    def line(self, text: str, elapsed: float) -> None:
        self._clear()
        self.stream.write(f"  {self._tag} {elapsed:6.1f}s  {text}\n")
        self.stream.flush()
        self._last_line_at = elapsed

    def phase(self, name: str, message: str, elapsed: float) -> None:
        first = message.splitlines()[0] if message else ""
        self.line(f"{name:<22}{first}".rstrip(), elapsed)

    def tick(self, name: str, elapsed: float) -> None:
        if self.interactive:
            spin = next(self._spin)
            self.stream.write(f"\r\x1b[K  {self._tag} {elapsed:6.1f}s  {spin} {name} ...")
            self.stream.flush()
            self._spinner_shown = True
        elif elapsed - self._last_line_at >= self.heartbeat_s:
            self.line(f"... still {name}", elapsed)

    def done(self) -> None:
        self._clear()
        self.stream.flush()


class TaskTimeoutError(TimeoutError):
    """The task did not reach a terminal phase in time."""


@dataclass
class PollResult:
    phase: int
    resource: agent_pb2.Resource
    phases_seen: list[str] = field(default_factory=list)
    get_failures: int = 0


def wait_for_terminal(
    client: AgentClient,
    resource_meta: bytes,
    *,
    output_prefix: str,
    reporter: ProgressReporter,
    timeout: float = 120.0,
    poll_interval: float = 1.0,
    max_get_failures: int = MAX_GET_FAILURES,
    started: float | None = None,
) -> PollResult:
    """Poll ``GetTask`` until a terminal phase, printing one line per phase change.

    Like propeller, a failed ``GetTask`` is tolerated ``max_get_failures - 1`` times over the
    whole wait; the next one is raised.
    """
    t0 = time.monotonic() if started is None else started
    last: tuple[int, str] | None = None
    seen: list[str] = []
    failures = 0
    while True:
        elapsed = time.monotonic() - t0
        try:
            resource = client.get_task(resource_meta, output_prefix=output_prefix)
        except (ConnectorCallError, httpx.TransportError) as exc:
            failures += 1
            reporter.line(f"GetTask error {failures}/{max_get_failures}: {exc}", elapsed)
            if failures >= max_get_failures:
                reporter.done()
                raise
        else:
            phase = resource_phase(resource)
            name = phase_name(phase)
            if last is None or last[0] != phase or last[1] != resource.message:
                if last is None or last[0] != phase:
                    seen.append(name)
                reporter.phase(name, resource.message, elapsed)
                last = (phase, resource.message)
            if phase in TERMINAL_PHASES:
                reporter.done()
                return PollResult(phase, resource, seen, failures)
        if elapsed >= timeout:
            reporter.done()
            current = phase_name(last[0]) if last else "no phase yet"
            raise TaskTimeoutError(
                f"gave up after {timeout:.0f}s waiting for a terminal phase (last: {current}); "
                f"the job may still be running: abort it with DeleteTask "
                f"(resource_meta {resource_meta!r})"
            )
        deadline = time.monotonic() + poll_interval
        while (now := time.monotonic()) < deadline:
            reporter.tick(phase_name(last[0]) if last else "CREATED", now - t0)
            time.sleep(min(0.1, max(0.0, deadline - now)))


# ------------------------------------------------------------------------------------------------
# 7. One task, end to end
# ------------------------------------------------------------------------------------------------


@dataclass
class ExecutionResult:
    label: str
    execution: PreparedExecution
    resource_meta: bytes
    phase: str
    message: str
    elapsed_s: float
    phases_seen: list[str]
    outputs: dict[str, Any] | None = None
    #: The task's own error, read from ``<output prefix>/error.pb`` (propeller shows it)
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.phase == "SUCCEEDED" and self.outputs is not None


def collect_outputs(
    execution: PreparedExecution, resource: agent_pb2.Resource
) -> tuple[dict[str, Any] | None, str | None]:
    """Outputs as propeller reads them on SUCCEEDED: ``Resource.outputs`` if set, else
    ``<output prefix>/outputs.pb``; an ``error.pb`` there means the task failed after all."""
    error = read_error_document(execution.paths.output_prefix)
    if resource.HasField("outputs") and len(resource.outputs.literals) > 0:
        return outputs_to_python(execution.task, resource.outputs), error
    if execution.paths.outputs.exists():
        return outputs_to_python(execution.task, read_literal_map(execution.paths.outputs)), error
    return None, error or f"SUCCEEDED but no outputs at {execution.paths.outputs}"


@dataclass
class StartedTask:
    """A task propeller has created through the connector and not yet seen finish."""

    label: str
    execution: PreparedExecution
    resource_meta: bytes
    reporter: ProgressReporter
    started: float  # time.monotonic() just before CreateTask


def start_task(
    client: AgentClient,
    task: PythonTask,
    inputs: Mapping[str, Any],
    blob_dir: Path,
    *,
    label: str | None = None,
    stream: TextIO | None = None,
    interactive: bool | None = None,
) -> StartedTask:
    """Prepare ``task`` with ``inputs`` (serialise, write inputs, render) and ``CreateTask`` it."""
    label = label or task.name.rsplit(".", 1)[-1]
    reporter = ProgressReporter(label, stream, interactive=interactive)
    execution = prepare_execution(task, inputs, blob_dir)
    t0 = time.monotonic()
    resource_meta = client.create_task(execution.create_request())
    reporter.line(
        f"created: execution {execution.identity.name}, "
        f"resource_meta {resource_meta.decode(errors='replace')}",
        time.monotonic() - t0,
    )
    return StartedTask(label, execution, resource_meta, reporter, t0)


def abort_task(client: AgentClient, started: StartedTask) -> None:
    """Abort as propeller does: ``DeleteTask``; the phase then turns terminal on its own."""
    client.delete_task(started.resource_meta)
    started.reporter.line("DeleteTask sent (abort)", time.monotonic() - started.started)


def follow_task(
    client: AgentClient,
    started: StartedTask,
    *,
    timeout: float = 120.0,
    poll_interval: float = 1.0,
) -> ExecutionResult:
    """Poll ``GetTask`` to a terminal phase; on SUCCEEDED read the outputs back into Python."""
    execution = started.execution
    poll = wait_for_terminal(
        client,
        started.resource_meta,
        output_prefix=str(execution.paths.output_prefix),
        reporter=started.reporter,
        timeout=timeout,
        poll_interval=poll_interval,
        started=started.started,
    )
    result = ExecutionResult(
        label=started.label,
        execution=execution,
        resource_meta=started.resource_meta,
        phase=phase_name(poll.phase),
        message=poll.resource.message,
        elapsed_s=time.monotonic() - started.started,
        phases_seen=poll.phases_seen,
    )
    if poll.phase == PHASE.SUCCEEDED:
        result.outputs, result.error = collect_outputs(execution, poll.resource)
    else:
        result.error = read_error_document(execution.paths.output_prefix)
    return result


def run_task(
    client: AgentClient,
    task: PythonTask,
    inputs: Mapping[str, Any],
    blob_dir: Path,
    *,
    label: str | None = None,
    timeout: float = 120.0,
    poll_interval: float = 1.0,
    stream: TextIO | None = None,
    interactive: bool | None = None,
) -> ExecutionResult:
    """Create ``task`` with ``inputs`` through the connector and follow it to a terminal phase."""
    started = start_task(
        client, task, inputs, blob_dir, label=label, stream=stream, interactive=interactive
    )
    return follow_task(client, started, timeout=timeout, poll_interval=poll_interval)
