"""Fixtures for the emulator tests: a real emulator on loopback, and a logged-in HTTP client."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from emulator_helpers import PASSWORD, USERNAME, login

from emulator import EmulatorServer


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(
        username=USERNAME,
        password=PASSWORD,
        step_delay=0.05,
        kill_grace=0.5,
        sample_interval=0.1,
    ) as server:
        yield server


@pytest.fixture
def client(emulator: EmulatorServer) -> Iterator[httpx.Client]:
    with login(emulator.url) as http:
        yield http
