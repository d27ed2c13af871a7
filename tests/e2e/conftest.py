"""Fixtures to look at the chain from OpCenter's side (the stack itself is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from connector.opcenter.wire import LOGIN_PATH, TOKEN_HEADER
from demo.stack import LocalStack


@pytest.fixture
def opcenter(stack: LocalStack) -> Iterator[httpx.Client]:
    """A logged-in client of the emulator, to look at jobs from OpCenter's side."""
    resp = httpx.get(stack.emulator_url + LOGIN_PATH, auth=(stack.username, stack.password))
    resp.raise_for_status()
    with httpx.Client(
        base_url=stack.emulator_url, headers={TOKEN_HEADER: resp.headers[TOKEN_HEADER]}
    ) as http:
        yield http


@pytest.fixture
def blob_dir(stack: LocalStack, tmp_path: Path) -> Path:
    return tmp_path / "blobs"
