"""GetTask rides out what is only unavailable for now, whichever dependency it is."""

from __future__ import annotations

import pytest
from flyteidl.admin import agent_pb2
from flyteidl.core.execution_pb2 import TaskExecution

from connector.credentials import Credentials
from connector.errors import Code, ConfigurationError, ConnectorError
from connector.metadata import MMCloudMetadata
from connector.opcenter.client import OpCenterClient
from connector.operations import Operations
from connector.tokens import MemoryTokenStore

META = MMCloudMetadata(job_id="abcdefghij0123456789K").encode()


class FailingCredentials:
    """Credentials whose secret cannot be read right now (throttled) or at all (no secret)."""

    def __init__(self, error: ConnectorError) -> None:
        self.error = error

    async def get(self) -> Credentials:
        raise self.error


def operations(error: ConnectorError) -> Operations:
    return Operations(OpCenterClient(FailingCredentials(error), MemoryTokenStore()))


async def test_a_throttled_credentials_secret_reports_running_not_an_error() -> None:
    throttled = ConnectorError("cannot read secret 'c': ThrottlingException", code=Code.UNAVAILABLE)
    response = await operations(throttled).get(agent_pb2.GetTaskRequest(resource_meta=META))
    assert response.resource.phase == TaskExecution.RUNNING
    assert "ThrottlingException" in response.resource.message


async def test_a_missing_credentials_secret_is_still_an_error() -> None:
    missing = ConfigurationError("cannot read secret 'c': ResourceNotFoundException")
    with pytest.raises(ConfigurationError):
        await operations(missing).get(agent_pb2.GetTaskRequest(resource_meta=META))
