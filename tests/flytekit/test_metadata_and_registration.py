"""``MMCloudMetadata`` speaks upstream's bytes; the entry point registers our connector so that it
wins over the upstream plugin's, whatever the import order, and ListAgents names it once."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

import flytekitplugins.mmcloud.connector as upstream
import pytest
from flytekit.extend import TaskPlugins
from flytekit.extend.backend.base_connector import ConnectorRegistry

import mmcloud_flytekit_entry
from connector.errors import InvalidArgument
from connector.flytekit_connector import MMCloudConnector, MMCloudMetadata
from connector.flytekit_task import MMCloudTask
from connector.task_config import MMCloudConfig

JOB_ID = "0123456789abcdefghijK"


def test_encode_is_upstreams_exact_bytes() -> None:
    assert MMCloudMetadata(JOB_ID).encode() == upstream.MMCloudMetadata(JOB_ID).encode()
    assert MMCloudMetadata(JOB_ID).encode() == b'{"job_id": "0123456789abcdefghijK"}'


def test_decode_reads_upstreams_bytes() -> None:
    assert MMCloudMetadata.decode(upstream.MMCloudMetadata(JOB_ID).encode()) == MMCloudMetadata(
        JOB_ID
    )


def test_decode_ignores_unknown_keys_where_flytekit_raises() -> None:
    data = json.dumps({"job_id": JOB_ID, "region": "us-east-1"}).encode()

    assert MMCloudMetadata.decode(data).job_id == JOB_ID
    with pytest.raises(KeyError):
        upstream.MMCloudMetadata.decode(data)


@pytest.mark.parametrize(
    "data", [b"", b"not json", b"[]", b"{}", b'{"job_id": 7}', b'{"job_id": "../etc/passwd"}']
)
def test_decode_rejects_what_is_not_an_mmcloud_job(data: bytes) -> None:
    with pytest.raises(InvalidArgument, match="resource_meta"):
        MMCloudMetadata.decode(data)


def test_the_entry_point_names_our_plugin_module() -> None:
    ours = [ep for ep in entry_points(group="flytekit.plugins") if ep.name == "mmcloud_serverless"]
    assert [ep.value for ep in ours] == ["mmcloud_flytekit_entry"]


def test_a_package_named_connector_earlier_on_the_path_does_not_break_import_flytekit(
    tmp_path: Path,
) -> None:
    (tmp_path / "connector").mkdir()
    (tmp_path / "connector" / "__init__.py").write_text("")  # a user's own package
    done = subprocess.run(
        [sys.executable, "-c", "import flytekit; print(flytekit.__version__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "MMCloud serverless connector: not registered with flytekit" in done.stderr


def test_our_connector_serves_mmcloud_task_and_is_listed_once() -> None:
    assert isinstance(ConnectorRegistry.get_connector("mmcloud_task"), MMCloudConnector)
    agent = ConnectorRegistry.get_connector_metadata("MMCloud Connector")
    assert list(agent.supported_task_types) == ["mmcloud_task"]
    assert len(agent.supported_task_categories) == 1


def test_each_config_class_keeps_its_own_task_class() -> None:
    from flytekitplugins.mmcloud import MMCloudConfig as UpstreamConfig
    from flytekitplugins.mmcloud import MMCloudTask as UpstreamTask

    assert TaskPlugins.find_pythontask_plugin(MMCloudConfig) is MMCloudTask
    assert TaskPlugins.find_pythontask_plugin(UpstreamConfig) is UpstreamTask


_PROBE = """
import flytekit
from flytekit.extend.backend.base_connector import ConnectorRegistry
from flytekit.extend import TaskPlugins
from connector.task_config import MMCloudConfig
first = type(ConnectorRegistry.get_connector("mmcloud_task")).__module__
from connector.flytekit_connector import ensure_registered
ensure_registered()
after = type(ConnectorRegistry.get_connector("mmcloud_task")).__module__
agent = ConnectorRegistry.get_connector_metadata("MMCloud Connector")
print(first, after, list(agent.supported_task_types),
      TaskPlugins.find_pythontask_plugin(MMCloudConfig).__name__)
"""
OURS = "connector.flytekit_connector"


@pytest.mark.parametrize(
    ("first_import", "serves_first"),
    [
        ("import flytekit", OURS),
        ("import connector.flytekit_plugin", OURS),
        ("import connector.flytekit_connector", OURS),
        ("import connector.flytekit_task", OURS),
        ("import connector.flytekit_entry", OURS),
        ("from flytekitplugins.mmcloud import MMCloudConfig", "flytekitplugins.mmcloud.connector"),
    ],
)
def test_any_import_order_works_and_ours_wins(first_import: str, serves_first: str) -> None:
    """In a fresh interpreter: no "Duplicate connector" error, ours registered, listed once.

    The one order where upstream serves until ``ensure_registered()`` (which our task calls before
    a local run) is a program importing the upstream plugin before flytekit itself: upstream's
    module is then still running when flytekit loads our entry point, and registers after us.
    """
    probe = subprocess.run(
        [sys.executable, "-c", f"{first_import}\n{_PROBE}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert probe.returncode == 0, probe.stderr[-2000:]
    first, after, types, task_class = probe.stdout.split(maxsplit=3)
    assert first == serves_first
    assert after == OURS
    assert types.strip() == "['mmcloud_task']"
    assert task_class.strip() == "MMCloudTask"


def test_the_core_modules_do_not_import_flytekit() -> None:
    """What the Lambda imports, and the flytekit-free halves of the adapter, stay flytekit-free."""
    code = (
        "import sys, connector, connector.service, connector.credentials, "
        "connector.task_config, connector.task_resources\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'flytekit', 'flytekitplugins'}"
        " or m.startswith('connector.flytekit'))\n"
        "print(bad)\n"
    )
    probe = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert probe.stdout.strip() == "[]"


def test_the_entry_points_flytekit_release_is_the_one_the_extra_requires() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    (requirement,) = pyproject["project"]["optional-dependencies"]["flytekit"]
    major, minor = mmcloud_flytekit_entry.SUPPORTED_FLYTEKIT
    assert requirement == f"flytekit>={major}.{minor},<{major}.{minor + 1}"
    assert mmcloud_flytekit_entry.load() is True  # this venv's flytekit is that release
