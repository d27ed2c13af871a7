"""The built Lambda artifact, alone: what it holds, its bytecode, and a real task served from it
by a fresh python3.12 that sees only the artifact and the runtime's SDK (as Lambda does)."""

from __future__ import annotations

import ast
import json
import subprocess
from pathlib import Path

from deploy_helpers import Build, ProbeRun, lambda_environment, run_probe
from google.protobuf import json_format

from demo.propeller import prepare_execution, read_literal_map
from demo.stack import LocalStack
from examples import workflows

SIZE_LIMIT = 25_000_000
NEVER_IN_THE_ARTIFACT = {
    "flytekit", "flytekitplugins", "grpc", "grpcio", "emulator", "demo", "tests", "examples",
    "boto3", "botocore", "moto", "uvicorn",
}  # fmt: skip


def test_the_artifact_is_small_and_holds_only_the_lambda_code(lambda_build: Build) -> None:
    artifact = lambda_build.artifact
    files = [p for p in artifact.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    assert size == lambda_build.info["unzipped_bytes"]
    assert size < SIZE_LIMIT, f"{size / 1e6:.1f} MB unzipped"
    top_level = {p.name.split(".")[0].split("-")[0].lower() for p in artifact.iterdir()}
    assert not top_level & NEVER_IN_THE_ARTIFACT
    assert {"connector", "handler", "fastapi", "mangum", "flyteidl"} <= top_level
    assert not (artifact / "handler" / "gateway").exists()
    assert not imports_of(artifact, ("connector", "handler")) & {"flytekit", "grpc"}
    requirements = (lambda_build.work_dir / "build" / "lambda" / "requirements.txt").read_text()
    assert "flytekit" not in requirements and "grpcio" not in requirements
    assert "boto3" not in requirements  # the runtime provides the SDK


def imports_of(root: Path, packages: tuple[str, ...]) -> set[str]:
    """Top-level names imported anywhere in these packages' modules."""
    names: set[str] = set()
    for package in packages:
        for source in (root / package).rglob("*.py"):
            for node in ast.walk(ast.parse(source.read_text())):
                if isinstance(node, ast.Import):
                    names.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names.add(node.module.split(".")[0])
    return names


def test_every_module_has_unchecked_bytecode_for_python312(lambda_build: Build) -> None:
    """Unchecked-hash .pyc are used whatever the sources' mtimes (a zip keeps them only to 2 s)."""
    magic = subprocess.run(
        [str(lambda_build.python), "-c", "import importlib.util as u; print(u.MAGIC_NUMBER.hex())"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    sources = list(lambda_build.artifact.rglob("*.py"))
    assert len(sources) > 500
    missing, stale = [], []
    for source in sources:
        pyc = source.parent / "__pycache__" / f"{source.stem}.cpython-312.pyc"
        if not pyc.exists():
            missing.append(source)
            continue
        header = pyc.read_bytes()[:8]
        flags = int.from_bytes(header[4:8], "little")
        if header[:4].hex() != magic or flags != 0b01:  # hash-based, source not checked
            stale.append(source)
    assert not missing and not stale, (missing[:5], stale[:5])


def run_artifact(
    lambda_build: Build, stack: LocalStack, out: Path, create_body: Path | None = None, **env: str
) -> ProbeRun:
    """The probe on python3.12 -I -S: no site-packages, no PYTHON* variables, no script dir."""
    return run_probe(
        [str(lambda_build.python), "-I", "-S"],
        lambda_environment(stack.moto_url, **env),
        out,
        paths=[str(lambda_build.artifact), str(lambda_build.runtime_sdk)],
        create_body=create_body,
    )


def test_the_artifact_alone_serves_a_real_task(
    lambda_build: Build, stack: LocalStack, tmp_path: Path
) -> None:
    prepared = prepare_execution(workflows.word_stats, {"text": "x y x"}, stack.blob_dir)
    body = tmp_path / "create.json"
    body.write_text(json_format.MessageToJson(prepared.create_request()))

    run = run_artifact(lambda_build, stack, tmp_path / "probe.json", create_body=body)

    assert run.result["python"][:2] == [3, 12]
    calls = run.result["calls"]
    assert [c["status"] for c in calls[:3]] == [200, 200, 404]  # ListAgents, GetAgent, GetTask
    assert json.loads(calls[1]["body"])["agent"]["name"] == "MMCloud Connector"
    assert json.loads(calls[2]["body"])["code"] == 5  # the events' placeholder job: NOT_FOUND
    created = calls[3]
    assert created["path"] == "/api/v1/agent/task"
    assert created["status"] == 200, created["body"]
    assert run.result["phases"][-1] == "SUCCEEDED", run.result["phases"]
    outputs = read_literal_map(prepared.paths.outputs)
    assert outputs.literals["unique"].scalar.primitive.integer == 2
    assert run.calls_to("/task_executions/")[-1]["status"] == 200  # delete after the end
    assert any(line.get("cold_start") is True for line in run.logs())  # Powertools works


def test_the_artifact_imports_nothing_from_outside(
    lambda_build: Build, stack: LocalStack, tmp_path: Path
) -> None:
    run = run_artifact(lambda_build, stack, tmp_path / "probe.json")
    modules = run.result["modules"]
    assert not set(modules) & NEVER_IN_THE_ARTIFACT - {"boto3", "botocore"}
    artifact, sdk = str(lambda_build.artifact), str(lambda_build.runtime_sdk)
    for name in ("handler", "connector", "fastapi", "pydantic_core", "aws_lambda_powertools"):
        assert modules[name].startswith(artifact + "/"), (name, modules[name])
    assert modules["boto3"].startswith(sdk + "/")
    outside = {
        name: path
        for name, path in modules.items()
        if path and "site-packages" in path and not path.startswith((artifact, sdk))
    }
    assert not outside
    assert Path(run.result["handler_app_cached"]).is_file()


def test_tracing_from_the_artifact(lambda_build: Build, stack: LocalStack, tmp_path: Path) -> None:
    """MMC_TRACING loads the Powertools Tracer and aws-xray-sdk, which the build must keep."""
    run = run_artifact(lambda_build, stack, tmp_path / "probe.json", MMC_TRACING="true")
    assert [c["status"] for c in run.result["calls"]] == [200, 200, 404]
    modules = run.result["modules"]
    assert modules["aws_xray_sdk"].startswith(str(lambda_build.artifact) + "/")
