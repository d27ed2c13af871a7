"""One local stack for the whole test session: emulator and app as processes, moto as a server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from demo.propeller import ConnectorClient
from demo.stack import LocalStack, local_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with local_stack(tmp_path_factory.mktemp("stack"), step_delay=0.05) as running:
        yield running


@pytest.fixture
def client(stack: LocalStack) -> Iterator[ConnectorClient]:
    with ConnectorClient(stack.app_url) as connector:
        yield connector
