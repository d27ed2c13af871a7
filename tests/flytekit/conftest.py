"""Fixtures for the flytekit adapter tests (the stack itself is in tests/conftest.py)."""

from __future__ import annotations

import pytest
from flytekit_helpers import OpCenterView

from connector.config import Settings
from connector.flytekit_connector import MMCloudConnector
from connector.service import build_operations
from demo.stack import LocalStack


@pytest.fixture
def opcenter_view(stack: LocalStack) -> OpCenterView:
    return OpCenterView(stack)


@pytest.fixture
def mmcloud_connector(stack: LocalStack) -> MMCloudConnector:
    """Our connector, talking to the session's emulator with credentials given directly."""
    settings = Settings(
        address=stack.emulator_url, username=stack.username, password=stack.password
    )
    return MMCloudConnector(operations=build_operations(settings))
