"""The one route table: flyteidl's ``google.api.http`` mapping of the agent services.

The FastAPI app serves these routes and the gRPC gateway calls them; both read this table, so the
HTTP contract has a single source. Paths are flyteidl's own templates (``{task_category.name}``),
each placeholder naming the request field it fills.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flyteidl.admin import agent_pb2
from google.protobuf.message import Message

_PLACEHOLDER = re.compile(r"\{([a-z_.]+)\}")


@dataclass(frozen=True)
class Route:
    rpc: str  # method name in flyteidl.service.AsyncAgentService / AgentMetadataService
    method: str
    path: str  # flyteidl's template
    request: type[Message]
    response: type[Message]
    has_body: bool = False  # body "*": the whole request is the JSON body
    streaming: bool = False  # server streaming: newline-delimited {"result": ...} lines

    @property
    def path_fields(self) -> list[str]:
        return _PLACEHOLDER.findall(self.path)

    @property
    def fastapi_path(self) -> str:
        """The template with dots replaced, since path parameter names must be identifiers."""
        return _PLACEHOLDER.sub(lambda m: "{" + param_name(m.group(1)) + "}", self.path)


def param_name(field_path: str) -> str:
    return field_path.replace(".", "__")


_TASK = "{task_category.name}/{task_category.version}/{resource_meta}"

ROUTES: tuple[Route, ...] = (
    Route("CreateTask", "POST", "/api/v1/agent/task",
          agent_pb2.CreateTaskRequest, agent_pb2.CreateTaskResponse, has_body=True),
    Route("GetTask", "GET", f"/api/v1/agent/task/{_TASK}",
          agent_pb2.GetTaskRequest, agent_pb2.GetTaskResponse),
    Route("DeleteTask", "DELETE", f"/api/v1/agent/task_executions/{_TASK}",
          agent_pb2.DeleteTaskRequest, agent_pb2.DeleteTaskResponse),
    Route("GetTaskMetrics", "GET", f"/api/v1/agent/task/metrics/{_TASK}",
          agent_pb2.GetTaskMetricsRequest, agent_pb2.GetTaskMetricsResponse),
    Route("GetTaskLogs", "GET", f"/api/v1/agent/task/logs/{_TASK}",
          agent_pb2.GetTaskLogsRequest, agent_pb2.GetTaskLogsResponse, streaming=True),
    Route("GetAgent", "GET", "/api/v1/agent/{name}",
          agent_pb2.GetAgentRequest, agent_pb2.GetAgentResponse),
    Route("ListAgents", "GET", "/api/v1/agents",
          agent_pb2.ListAgentsRequest, agent_pb2.ListAgentsResponse),
)  # fmt: skip

BY_RPC: dict[str, Route] = {route.rpc: route for route in ROUTES}
