"""The Lambda artifact, built once per session by the script `make build` runs, for this host."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from deploy_helpers import ROOT, Build, host_architecture


@pytest.fixture(scope="session")
def lambda_build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    """``infra/build.py`` (what ``make build`` runs) for this host's architecture, so a local
    python3.12 can import the artifact's compiled wheels, plus the runtime's SDK beside it."""
    work = tmp_path_factory.mktemp("lambda-build")
    sdk = work / "runtime-sdk"
    cmd = [
        sys.executable, str(ROOT / "infra" / "build.py"),
        "--arch", host_architecture(), "--work-dir", str(work), "--runtime-sdk", str(sdk),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    log = done.stdout + done.stderr
    assert done.returncode == 0, f"the build failed:\n{log[-6000:]}"
    info = json.loads((work / ".aws-sam" / "build-info.json").read_text())
    return Build(
        work_dir=work,
        artifact=Path(str(info["artifact"])),
        runtime_sdk=sdk,
        python=Path(str(info["python"])),
        info=info,
        log=log,
    )
