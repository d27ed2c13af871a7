"""The flytekit ``MMCloudConnector``: the upstream plugin's public API over the Lambda's core.

``pyflyte serve connector`` (a long-running connector pod) and local ``pyflyte run`` both call a
flytekit ``AsyncConnectorBase``. This one is a thin adapter: it converts flytekit models to the
flyteidl messages ``connector.operations.Operations`` takes (``.to_flyte_idl()``), calls it, and
converts back. There is no second implementation of any operation, so all three front ends (the
Lambda, a connector pod, a laptop) submit, poll and cancel jobs the same way.

This module imports flytekit; nothing on the Lambda path imports it (cold start, DESIGN 1).
Importing it registers the connector with flytekit (see :func:`register`), as the upstream
module does; the ``flytekit.plugins`` entry point imports it whenever flytekit is imported.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flyteidl.admin import agent_pb2
from flyteidl.core.execution_pb2 import TaskExecution
from flytekit.core.context_manager import FlyteContextManager, SecretsManager
from flytekit.exceptions.system import FlyteConnectorNotFound
from flytekit.extend.backend.base_connector import (
    AsyncConnectorBase,
    ConnectorRegistry,
    Resource,
    ResourceMeta,
)
from flytekit.loggers import logger
from flytekit.models.literals import LiteralMap
from flytekit.models.task import TaskTemplate
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from connector import metadata as core_metadata
from connector.credentials import FLYTE_SECRET_NAMES, LookupCredentials
from connector.job_request import TASK_TYPE
from connector.operations import Operations
from connector.service import build_operations

CONNECTOR_NAME = "MMCloud Connector"
#: The upstream plugin, which registers a connector for the same task type when imported.
UPSTREAM_PACKAGE = "flytekitplugins.mmcloud"
UPSTREAM_CONNECTOR_MODULE = f"{UPSTREAM_PACKAGE}.connector"

_LOCAL_RETRY_NOTE = (
    "(RETRYABLE_FAILED on a Flyte cluster, which would retry the task; "
    "a local run does not retry, so it is reported FAILED)"
)


@dataclass
class MMCloudMetadata(ResourceMeta):
    """The MMCloud job behind a task: ``b'{"job_id": "..."}'``, the upstream plugin's exact bytes.

    Encoding and decoding are ``connector.metadata``'s (the Lambda's): the id is validated before
    it reaches a URL path, and unknown keys are ignored (flytekit's own ``decode`` raises on them),
    so a later version may add fields without breaking pods still running this one.
    """

    job_id: str

    def encode(self) -> bytes:
        return core_metadata.MMCloudMetadata(job_id=self.job_id).encode()

    @classmethod
    def decode(cls, data: bytes) -> MMCloudMetadata:
        return cls(job_id=core_metadata.MMCloudMetadata.decode(data).job_id)


class MMCloudConnector(AsyncConnectorBase):
    """Runs ``mmcloud_task`` tasks as MMCloud jobs, through the same core as the Lambda.

    OpCenter credentials, in order: the Secrets Manager secret ``MMC_CREDENTIALS_SECRET``;
    ``MMC_ADDRESS``/``MMC_USERNAME``/``MMC_PASSWORD``; else the Flyte secrets ``mmc_address``,
    ``mmc_username``, ``mmc_password`` the upstream plugin uses (``_FSEC_MMC_ADDRESS``... or
    files under ``/etc/secrets`` in a connector pod). The session token is kept in memory, or
    shared through ``MMC_TOKEN_SECRET`` when set (e.g. with the Lambda deployment).
    """

    name = CONNECTOR_NAME

    def __init__(self, *, operations: Operations | None = None) -> None:
        super().__init__(task_type_name=TASK_TYPE, metadata_type=MMCloudMetadata)
        self._operations = operations

    @property
    def operations(self) -> Operations:
        """Built on first use, not at import: importing flytekit must never fail on bad config."""
        if self._operations is None:
            self._operations = build_operations(
                fallback_credentials=LookupCredentials(
                    flyte_secret,
                    FLYTE_SECRET_NAMES,
                    alternatives="set them as Flyte secrets, or set MMC_CREDENTIALS_SECRET "
                    "(a Secrets Manager secret), or MMC_ADDRESS, MMC_USERNAME and MMC_PASSWORD",
                )
            )
        return self._operations

    async def async_login(self) -> None:
        """Log in to Memory Machine Cloud OpCenter (later calls reuse the session token)."""
        await self.operations.client.login()

    async def create(
        self, task_template: TaskTemplate, inputs: LiteralMap | None = None, **kwargs: Any
    ) -> MMCloudMetadata:
        """Submit a Flyte task as MMCloud job to the OpCenter, and return the job UID for the task.

        ``kwargs`` may hold ``output_prefix`` and ``task_execution_metadata`` (flytekit passes
        both from a connector pod; a local run passes no metadata).
        """
        request = agent_pb2.CreateTaskRequest(
            template=task_template.to_flyte_idl(),
            output_prefix=str(kwargs.get("output_prefix") or ""),
        )
        if inputs is not None:
            request.inputs.CopyFrom(inputs.to_flyte_idl())
        metadata = kwargs.get("task_execution_metadata")
        if metadata is not None:
            given = _without_empty_parts(metadata.to_flyte_idl())
            if given.ByteSize():
                request.task_execution_metadata.CopyFrom(given)
        response = await self.operations.create(request)
        meta = MMCloudMetadata.decode(response.resource_meta)
        logger.info(f"{self.name}: task {task_template.id.name} is MMCloud job {meta.job_id}")
        return meta

    async def get(self, resource_meta: MMCloudMetadata, **kwargs: Any) -> Resource:
        """Return the status of the task, and return the outputs on success.

        Under a local ``pyflyte run`` a RETRYABLE_FAILED job is reported FAILED: nothing retries
        there, and the local loops of earlier flytekit versions (and of the Flyte 2 SDK) stop
        only on SUCCEEDED/FAILED/ABORTED, so they would poll it forever (1.16's also stops on
        RETRYABLE_FAILED; either way the run fails with this message).
        """
        response = await self.operations.get(
            agent_pb2.GetTaskRequest(
                task_category=self._category(), resource_meta=_encoded(resource_meta)
            )
        )
        resource = _resource(response.resource)
        if resource.phase == TaskExecution.RETRYABLE_FAILED and running_locally():
            resource.phase = TaskExecution.FAILED
            resource.message = f"{resource.message}\n{_LOCAL_RETRY_NOTE}"
        return resource

    async def delete(self, resource_meta: MMCloudMetadata, **kwargs: Any) -> None:
        """Delete the task. This call should be idempotent (it is: unknown or finished jobs
        are not an error)."""
        await self.operations.delete(
            agent_pb2.DeleteTaskRequest(
                task_category=self._category(), resource_meta=_encoded(resource_meta)
            )
        )

    async def get_logs(
        self, resource_meta: ResourceMeta, **kwargs: Any
    ) -> agent_pb2.GetTaskLogsResponse:
        """Return the logs for the task: its stdout and stderr lines, in one body message.

        ``kwargs``: ``lines`` (the last N lines; 0 for all) and ``token`` (continue after an
        earlier call). This API returns one message, so the continuation token of the header is
        not in it; :meth:`log_responses` returns the header and every body message.
        """
        body = agent_pb2.GetTaskLogsResponseBody()
        for response in await self.log_responses(resource_meta, **kwargs):
            if response.HasField("body"):
                body.results.extend(response.body.results)
                body.structured_lines.extend(response.body.structured_lines)
        return agent_pb2.GetTaskLogsResponse(body=body)

    async def log_responses(
        self, resource_meta: ResourceMeta, **kwargs: Any
    ) -> list[agent_pb2.GetTaskLogsResponse]:
        """GetTaskLogs as the gRPC stream carries it: a header with a token, then bodies."""
        request = agent_pb2.GetTaskLogsRequest(
            task_category=self._category(),
            resource_meta=_encoded(resource_meta),
            lines=int(kwargs.get("lines") or 0),
            token=str(kwargs.get("token") or ""),
        )
        return await self.operations.get_logs(request)

    async def get_metrics(
        self, resource_meta: ResourceMeta, **kwargs: Any
    ) -> agent_pb2.GetTaskMetricsResponse:
        """Return the metrics for the task: CPU and memory over time, core hours and cost.

        ``kwargs``: ``queries`` (names; all when empty), ``start_time``/``end_time`` (datetime or
        ``Timestamp``) and ``step`` (timedelta or ``Duration``).
        """
        request = agent_pb2.GetTaskMetricsRequest(
            task_category=self._category(),
            resource_meta=_encoded(resource_meta),
            queries=list(kwargs.get("queries") or ()),
        )
        for name in ("start_time", "end_time"):
            _set_time(getattr(request, name), kwargs.get(name))
        _set_time(request.step, kwargs.get("step"))
        return await self.operations.get_metrics(request)

    def _category(self) -> agent_pb2.TaskCategory:
        return agent_pb2.TaskCategory(
            name=self.task_category.name, version=self.task_category.version
        )


# -- conversions ------------------------------------------------------------------------------


def _encoded(resource_meta: ResourceMeta) -> bytes:
    """Our metadata, the upstream plugin's, or any meta with a ``job_id``, as the core's bytes."""
    job_id: Any = getattr(resource_meta, "job_id", None)  # validated by the core's type
    return core_metadata.MMCloudMetadata(job_id=job_id).encode()


def _resource(pb: agent_pb2.Resource) -> Resource:
    """flytekit's ``Resource`` for a flyteidl one.

    Not ``Resource.from_flyte_idl``: it turns absent outputs into an *empty* ``LiteralMap``, which
    the local executor then returns as the task's outputs instead of reading ``outputs.pb``.
    """
    return Resource(
        phase=pb.phase,
        message=pb.message,
        log_links=list(pb.log_links) or None,
        outputs=LiteralMap.from_flyte_idl(pb.outputs) if pb.HasField("outputs") else None,
        custom_info=(
            json_format.MessageToDict(pb.custom_info) if pb.HasField("custom_info") else None
        ),
    )


def _without_empty_parts(message: Message) -> Message:
    """Clear sub-messages that hold nothing, so ``HasField`` means "given".

    flytekit's model round trip (``from_flyte_idl`` then ``to_flyte_idl``) sets every sub-message
    of ``TaskExecutionMetadata``, so an empty one would read as an execution named "" (job name
    ``--0``, empty ``flyte-*`` tags).
    """
    for field, value in message.ListFields():
        if field.type == FieldDescriptor.TYPE_MESSAGE and not field.is_repeated:
            _without_empty_parts(value)
            if value.ByteSize() == 0:
                message.ClearField(field.name)
    return message


def _set_time(target: Message, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, Message):
        target.CopyFrom(value)
    elif isinstance(value, datetime):
        target.FromDatetime(value)  # type: ignore[attr-defined]
    elif isinstance(value, timedelta):
        target.FromTimedelta(value)  # type: ignore[attr-defined]
    else:
        raise TypeError(f"expected a datetime, timedelta or protobuf message, got {value!r}")


# -- context ----------------------------------------------------------------------------------


def running_locally() -> bool:
    """True inside flytekit's local execution (``pyflyte run`` without ``--remote``).

    A connector pod runs in flytekit's default context (no execution mode); a local run of a
    connector task polls ``get`` from within the task's local execution.
    """
    state = FlyteContextManager.current_context().execution_state
    return state is not None and state.is_local_execution()


def flyte_secret(name: str) -> str | None:
    """A Flyte secret as the upstream plugin reads it, ``secrets.get(name)``: the variable
    ``_FSEC_<NAME>``, then the file ``/etc/secrets/<name>`` (flytekit's secrets settings apply)."""
    params = FlyteContextManager.current_context().user_space_params
    secrets = params.secrets if params is not None else SecretsManager()
    try:
        return secrets.get(name)
    except ValueError:
        return None


# -- registration -----------------------------------------------------------------------------


def register(connector: MMCloudConnector | None = None) -> MMCloudConnector:
    """Make ``connector`` the one flytekit uses for ``mmcloud_task``, replacing upstream's.

    ``ConnectorRegistry.register`` raises on a second connector for a task type unless told to
    override, and appends the task type again to the metadata of a connector with the same name
    (upstream's is also "MMCloud Connector"), so ListAgents would list it twice: dedupe it.
    """
    connector = connector or MMCloudConnector()
    ConnectorRegistry.register(connector, override=True)
    agent = ConnectorRegistry.get_connector_metadata(connector.name)
    types = list(dict.fromkeys(agent.supported_task_types))
    categories = list(dict.fromkeys((c.name, c.version) for c in agent.supported_task_categories))
    del agent.supported_task_types[:]
    agent.supported_task_types.extend(types)
    del agent.supported_task_categories[:]
    agent.supported_task_categories.extend(
        agent_pb2.TaskCategory(name=name, version=version) for name, version in categories
    )
    return connector


def ensure_registered() -> None:
    """Register ours unless it already is (see the module's end for when it is deferred)."""
    try:
        current = ConnectorRegistry.get_connector(TASK_TYPE)
    except FlyteConnectorNotFound:
        current = None
    if not isinstance(current, MMCloudConnector):
        register()


def _upstream_importing() -> bool:
    """True while the upstream connector module is still executing (it registers at its end)."""
    module = sys.modules.get(UPSTREAM_CONNECTOR_MODULE)
    return bool(getattr(getattr(module, "__spec__", None), "_initializing", False))


def _import_upstream_first() -> None:
    """Let the upstream plugin register first, so ours replaces it whatever the import order.

    ``import flytekit`` loads every ``flytekit.plugins`` entry point in an order that depends on
    the file system. If upstream's ran after ours, its unconditional register would raise
    "Duplicate connector" and break ``import flytekit`` itself. Importing it here first makes its
    later entry-point load a no-op (already in ``sys.modules``).
    """
    with contextlib.suppress(ImportError):  # not installed: nothing to replace
        importlib.import_module(UPSTREAM_PACKAGE)


_import_upstream_first()
if not _upstream_importing():
    register()
# Else upstream's own module is mid-import (a program imported flytekitplugins.mmcloud before
# flytekit): registering now would make its pending register raise. Ours is then registered by
# ensure_registered(), which MMCloudTask calls before a local run; a connector pod always imports
# flytekit first, so it never takes this path.
