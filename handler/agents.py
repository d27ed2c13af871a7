"""What this deployment tells FlytePropeller about itself (ListAgents / GetAgent)."""

from __future__ import annotations

from flyteidl.admin import agent_pb2

from connector.errors import NotFound
from connector.job_request import TASK_TYPE

AGENT_NAME = "MMCloud Connector"  # the upstream connector's name
TASK_CATEGORY = agent_pb2.TaskCategory(name=TASK_TYPE, version=0)

AGENT = agent_pb2.Agent(
    name=AGENT_NAME,
    supported_task_types=[TASK_TYPE],
    supported_task_categories=[TASK_CATEGORY],
    is_sync=False,
)


def list_agents(_: agent_pb2.ListAgentsRequest) -> agent_pb2.ListAgentsResponse:
    return agent_pb2.ListAgentsResponse(agents=[AGENT])


def get_agent(request: agent_pb2.GetAgentRequest) -> agent_pb2.GetAgentResponse:
    if request.name != AGENT_NAME:
        raise NotFound(f"no agent named {request.name!r}; this deployment serves {AGENT_NAME!r}")
    return agent_pb2.GetAgentResponse(agent=AGENT)


def check_category(category: agent_pb2.TaskCategory, task_type: str = "") -> None:
    """Reject requests meant for another connector, so they are not misread as ours."""
    name = category.name or task_type
    if name and name != TASK_TYPE:
        raise NotFound(f"this deployment serves task type {TASK_TYPE!r}, not {name!r}")
