"""FlytePropeller's side of the wire: the connector's calls over gRPC, through the gateway.

Propeller only speaks gRPC (``flyteidl.service.AsyncAgentService`` / ``AgentMetadataService``);
in a real deployment it calls the gateway, which forwards each call to the serverless HTTP API.
:class:`GrpcConnectorClient` makes those calls with flyteidl's own generated stubs and has the
interface of :class:`demo.propeller.ConnectorClient`, so ``run_task``/``follow_task`` work with
either.
"""

from __future__ import annotations

import grpc
from flyteidl.admin import agent_pb2
from flyteidl.service import agent_pb2_grpc

from demo.constants import TASK_TYPE, TASK_TYPE_VERSION
from demo.propeller import CALL_TIMEOUT_S, ConnectorCallError


class GrpcCallError(ConnectorCallError):
    """The gateway answered a call with a gRPC error."""

    def __init__(self, rpc: str, target: str, code: grpc.StatusCode, message: str) -> None:
        super().__init__(rpc, target, 0, int(code.value[0]), message)
        self.grpc_code = code

    def __str__(self) -> str:
        return f"{self.method} via gateway {self.url} -> {self.grpc_code.name}: {self.message}"


class GrpcConnectorClient:
    """ListAgents, CreateTask, GetTask, DeleteTask over gRPC, each with propeller's 10 s timeout."""

    def __init__(
        self,
        target: str,
        *,
        timeout: float = CALL_TIMEOUT_S,
        task_type: str = TASK_TYPE,
        task_type_version: int = TASK_TYPE_VERSION,
    ) -> None:
        self.target = target
        self.timeout = timeout
        self.category = agent_pb2.TaskCategory(name=task_type, version=task_type_version)
        self._channel = grpc.insecure_channel(target)
        self._tasks = agent_pb2_grpc.AsyncAgentServiceStub(self._channel)
        self._metadata = agent_pb2_grpc.AgentMetadataServiceStub(self._channel)

    def __enter__(self) -> GrpcConnectorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    def _call(self, rpc: str, method: grpc.UnaryUnaryMultiCallable, request: object) -> object:
        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as exc:
            raise GrpcCallError(rpc, self.target, exc.code(), exc.details() or "") from None

    def list_agents(self) -> agent_pb2.ListAgentsResponse:
        response = self._call(
            "ListAgents", self._metadata.ListAgents, agent_pb2.ListAgentsRequest()
        )
        assert isinstance(response, agent_pb2.ListAgentsResponse)
        return response

    def create_task(self, request: agent_pb2.CreateTaskRequest) -> bytes:
        """``CreateTask``; returns the ``resource_meta`` bytes."""
        response = self._call("CreateTask", self._tasks.CreateTask, request)
        assert isinstance(response, agent_pb2.CreateTaskResponse)
        if not response.resource_meta:
            raise GrpcCallError(
                "CreateTask", self.target, grpc.StatusCode.INTERNAL, "response has no resource_meta"
            )
        return bytes(response.resource_meta)

    def get_task(self, resource_meta: bytes, *, output_prefix: str) -> agent_pb2.Resource:
        """``GetTask`` as propeller sends it (category, deprecated task_type, output prefix)."""
        request = agent_pb2.GetTaskRequest(
            task_type=self.category.name,
            task_category=self.category,
            resource_meta=resource_meta,
            output_prefix=output_prefix,
        )
        response = self._call("GetTask", self._tasks.GetTask, request)
        assert isinstance(response, agent_pb2.GetTaskResponse)
        return response.resource

    def get_task_logs(
        self, resource_meta: bytes, *, lines: int = 0, token: str = ""
    ) -> list[agent_pb2.GetTaskLogsResponse]:
        """``GetTaskLogs``, a server stream: the header (with its token), then body messages."""
        request = agent_pb2.GetTaskLogsRequest(
            task_type=self.category.name,
            task_category=self.category,
            resource_meta=resource_meta,
            lines=lines,
            token=token,
        )
        try:
            return list(self._tasks.GetTaskLogs(request, timeout=self.timeout))
        except grpc.RpcError as exc:
            raise GrpcCallError(
                "GetTaskLogs", self.target, exc.code(), exc.details() or ""
            ) from None

    def get_task_metrics(
        self, resource_meta: bytes, *, queries: list[str] | None = None, step_s: int = 0
    ) -> agent_pb2.GetTaskMetricsResponse:
        """``GetTaskMetrics`` for ``queries`` (all the connector knows when None)."""
        request = agent_pb2.GetTaskMetricsRequest(
            task_type=self.category.name,
            task_category=self.category,
            resource_meta=resource_meta,
            queries=queries or [],
        )
        if step_s:
            request.step.FromSeconds(step_s)
        response = self._call("GetTaskMetrics", self._tasks.GetTaskMetrics, request)
        assert isinstance(response, agent_pb2.GetTaskMetricsResponse)
        return response

    def delete_task(self, resource_meta: bytes) -> None:
        """``DeleteTask``: what propeller calls when an execution is aborted."""
        request = agent_pb2.DeleteTaskRequest(
            task_type=self.category.name, task_category=self.category, resource_meta=resource_meta
        )
        self._call("DeleteTask", self._tasks.DeleteTask, request)
