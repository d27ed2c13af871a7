"""Build the Lambda artifact with ``sam build``: ``make build`` or ``make build ARCH=x86_64``.

What ends up in ``.aws-sam/build/ConnectorFunction`` is only what the function imports:

1. ``build/lambda`` (the template's ``CodeUri``) is staged with ``connector/``, ``handler/`` (less
   the gRPC gateway, which runs as a pod) and a ``requirements.txt`` exported from ``uv.lock``: the
   runtime dependencies without the dev group, the extras, and boto3 with what only boto3 needs.
   The python3.12 runtime ships that SDK, and botocore alone would be most of a 25 MB budget.
2. ``sam build`` installs the requirements for the chosen architecture. Its pip workflow runs
   ``python3.12`` from PATH, which must be a real interpreter (a pyenv shim fails), so one is found
   and put first.
3. Anything the runtime provides is dropped again (pip may pull it in as a dependency), and the
   bytecode is compiled for 3.12 as unchecked-hash ``.pyc``: the zip keeps mtimes only to 2 s, so
   timestamp-checked ``.pyc`` would be stale and recompiled on every cold start. Tracebacks name
   ``/var/task``, where Lambda unpacks the code.
4. The artifact is checked (no flytekit, gRPC, emulator, demo, tests) and measured.

``--work-dir`` builds elsewhere (the tests build in a temporary directory); ``--runtime-sdk DIR``
also installs the SDK the runtime would provide, at the locked versions, to run the artifact
locally as Lambda would (``/var/task`` then ``/var/runtime`` on ``sys.path``).
"""

from __future__ import annotations

import argparse
import ast
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sam import sam_command, sam_environment, uv_command

ROOT = Path(__file__).resolve().parents[1]
FUNCTION = "ConnectorFunction"
STAGE = Path("build/lambda")  # template.yaml's CodeUri, relative to the template
SAM_BUILD_DIR = Path(".aws-sam/build")
INFO_FILE = Path(".aws-sam/build-info.json")
SIZE_LIMIT_BYTES = 25 * 1000 * 1000

#: The Lambda code: packages copied into the artifact, and what inside them stays out. Modules
#: that import these (the flytekit adapter, the gRPC gateway) are never on the Lambda path.
SOURCES = ("connector", "handler")
EXCLUDED_SOURCES = ("handler/gateway",)
NON_LAMBDA_IMPORTS = ("flytekit", "flytekitplugins", "grpc", "grpc_health")
#: The AWS SDK and what only it needs: the python3.12 runtime provides them (``/var/runtime``).
RUNTIME_PROVIDED_ROOTS = ("boto3", "botocore")
#: Names that must never be importable from the artifact (top-level entries).
FORBIDDEN = ("flytekit", "flytekitplugins", "grpc", "emulator", "demo", "tests", "examples")
#: Files the interpreter never reads: type stubs, protobuf and C sources.
UNREAD_SUFFIXES = (".pyi", ".proto", ".c", ".h")
#: Powertools parts this app never imports (logging, metrics, tracing, idempotency and parameters
#: stay): its own HTTP resolver, which bundles a Swagger UI, and the event-parsing utilities.
PRUNED_MODULES = (
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.utilities.auth_alpha",
    "aws_lambda_powertools.utilities.batch",
    "aws_lambda_powertools.utilities.circuit_breaker",
    "aws_lambda_powertools.utilities.data_classes",
    "aws_lambda_powertools.utilities.data_masking",
    "aws_lambda_powertools.utilities.feature_flags",
    "aws_lambda_powertools.utilities.kafka",
    "aws_lambda_powertools.utilities.parser",
    "aws_lambda_powertools.utilities.streaming",
    "aws_lambda_powertools.utilities.validation",
)
#: Kept files that name a pruned module, and why that is harmless. Any other reference fails.
PRUNED_REFERENCES_OK = {
    "aws_lambda_powertools/shared/functions.py": "imports event_handler lazily to dump pydantic "
    "models, which this app never logs",
}


@dataclass(frozen=True)
class BuildInfo:
    """What a build produced; written to ``.aws-sam/build-info.json`` for tests and CI."""

    architecture: str
    python: str
    artifact: str
    runtime_sdk: str | None
    unzipped_bytes: int
    zipped_bytes: int
    files: int
    seconds: float


def find_python312() -> Path:
    """A real python3.12 executable with pip: ``$PYTHON312``, PATH, pyenv, or uv's list.

    (uv cannot download one here: its Pythons come from GitHub, which this network does not
    reach; pyenv's 3.12 is on every machine of this kind.)"""
    probe = "import sys, pip; assert sys.version_info[:2] == (3, 12); print(sys.executable)"
    for candidate in _python312_candidates():
        executable = _output([candidate, "-c", probe])
        if executable:
            return Path(executable.splitlines()[-1])
    raise SystemExit(
        "build: no Python 3.12 with pip found (tried $PYTHON312, python3.12 on PATH, "
        "`pyenv prefix 3.12`, ~/.pyenv/versions/3.12.*, `uv python find 3.12`); "
        "set PYTHON312=/path/to/python3.12"
    )


def _python312_candidates() -> Iterator[str]:
    """Places to try, best first; each is only looked up if the ones before it failed."""
    if os.environ.get("PYTHON312"):
        yield os.environ["PYTHON312"]
    yield "python3.12"  # a pyenv shim works only while 3.12 is active: the probe tells
    prefix = _output(["pyenv", "prefix", "3.12"])
    if prefix:
        yield str(Path(prefix.splitlines()[0]) / "bin" / "python3.12")
    pyenv_root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    found = glob.glob(f"{pyenv_root}/versions/3.12.*/bin/python3.12")
    yield from sorted(found, key=_version_key, reverse=True)
    uv_found = _output([*uv_command(), "python", "find", "3.12"])
    if uv_found:
        yield uv_found.splitlines()[-1]


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parents[1].name
    return tuple(int(p) if p.isdigit() else -1 for p in version.split("."))


def _output(cmd: list[str]) -> str | None:
    """stdout of ``cmd`` if it ran and succeeded, else None (missing tools are not errors)."""
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def export_requirements(*, prune_sdk: bool) -> list[str]:
    """Pinned runtime requirements from uv.lock (no dev group, no extras, no hashes)."""
    cmd = [
        *uv_command(), "export", "--frozen", "--format", "requirements.txt",
        "--no-dev", "--no-emit-project", "--no-hashes", "--no-header", "--no-annotate",
    ]  # fmt: skip
    if prune_sdk:
        for root in RUNTIME_PROVIDED_ROOTS:
            cmd += ["--prune", root]
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return [line.strip() for line in out.splitlines() if line.strip() and not line.startswith("#")]


def project_name(requirement: str) -> str:
    name = requirement.split(";")[0].split("==")[0].split("[")[0].strip()
    return name.lower().replace("_", "-").replace(".", "-")


def stage(work_dir: Path, requirements: list[str]) -> tuple[Path, list[str]]:
    """build/lambda: the Lambda's own modules and requirements.txt, nothing else."""
    staged = work_dir / STAGE
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo")
    for name in SOURCES:
        shutil.copytree(ROOT / name, staged / name, ignore=skip)
    for name in EXCLUDED_SOURCES:
        shutil.rmtree(staged / name, ignore_errors=True)
    left_out = off_path_modules(staged)
    for rel in left_out:
        (staged / rel).unlink()
    (staged / "requirements.txt").write_text("\n".join(requirements) + "\n")
    if work_dir != ROOT:
        shutil.copy2(ROOT / "template.yaml", work_dir / "template.yaml")
        shutil.copy2(ROOT / "samconfig.toml", work_dir / "samconfig.toml")
    return staged, left_out


def off_path_modules(tree: Path) -> list[str]:
    """Modules under ``tree`` that import flytekit or gRPC, directly or through one another:
    the Lambda never imports them (the flytekit adapter, the gRPC gateway)."""
    imports = {_module_name(p, tree): (p, _imported(p, tree)) for p in sorted(tree.rglob("*.py"))}
    off: set[str] = set()
    changed = True
    while changed:
        changed = False
        for module, (_, names) in imports.items():
            if module in off:
                continue
            if any(n.split(".")[0] in NON_LAMBDA_IMPORTS or n in off for n in names):
                off.add(module)
                changed = True
    return sorted(str(imports[m][0].relative_to(tree)) for m in off)


def _module_name(source: Path, tree: Path) -> str:
    parts = list(source.relative_to(tree).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(source: Path, tree: Path) -> set[str]:
    """Every module name ``source`` imports (``from a import b`` counts ``a`` and ``a.b``)."""
    package = _module_name(source, tree).split(".")
    if source.name != "__init__.py":
        package = package[:-1]
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                prefix = package[: len(package) - node.level + 1]
                base = ".".join([*prefix, base] if base else prefix)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def sam_build(work_dir: Path, architecture: str, python: Path) -> Path:
    env = sam_environment()
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    # SAM's own environment gets this interpreter too, rather than whatever uv would pick from
    # the PATH changed above: one predictable cached environment.
    cmd = [
        *sam_command(python=str(python)), "build",
        "--template-file", str(work_dir / "template.yaml"),
        "--build-dir", str(work_dir / SAM_BUILD_DIR),
        "--parameter-overrides", f"Architecture={architecture}",
    ]  # fmt: skip
    subprocess.run(cmd, cwd=work_dir, env=env, check=True)
    return work_dir / SAM_BUILD_DIR / FUNCTION


def drop_distributions(artifact: Path, names: set[str]) -> list[str]:
    """Remove installed distributions (every file their RECORD lists) whose name is in ``names``."""
    dropped = []
    for dist_info in sorted(artifact.glob("*.dist-info")):
        name = dist_info.name.removesuffix(".dist-info").rsplit("-", 1)[0]
        if project_name(name) not in names:
            continue
        record = dist_info / "RECORD"
        for line in record.read_text().splitlines() if record.exists() else []:
            path = artifact / line.split(",")[0]
            if path.is_file() and artifact in path.resolve().parents:
                path.unlink()
        shutil.rmtree(dist_info, ignore_errors=True)
        dropped.append(name)
    for path in sorted(artifact.rglob("*"), reverse=True):  # directories those files left empty
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    shutil.rmtree(artifact / "bin", ignore_errors=True)  # console scripts: never run in Lambda
    return dropped


def prune(artifact: Path) -> int:
    """Drop unread files and unused Powertools parts; return the bytes saved."""
    doomed = [p for p in artifact.rglob("*") if p.is_file() and p.suffix in UNREAD_SUFFIXES]
    for module in PRUNED_MODULES:
        doomed += [p for p in (artifact / module.replace(".", "/")).rglob("*") if p.is_file()]
    saved = sum(p.stat().st_size for p in doomed)
    for path in doomed:
        path.unlink()
    for module in PRUNED_MODULES:
        shutil.rmtree(artifact / module.replace(".", "/"), ignore_errors=True)
    dangling = []
    for source in artifact.rglob("*.py"):
        rel = source.relative_to(artifact).as_posix()
        text = source.read_text(errors="replace")
        named = [m for m in PRUNED_MODULES if m in text]
        if named and rel not in PRUNED_REFERENCES_OK:
            dangling.append(f"{rel} ({', '.join(named)})")
    if dangling:
        raise SystemExit(
            "build: pruned modules are still referenced by "
            + "; ".join(dangling)
            + ": keep them (PRUNED_MODULES in infra/build.py) or explain (PRUNED_REFERENCES_OK)"
        )
    return saved


def compile_bytecode(artifact: Path, python: Path) -> None:
    for cache in list(artifact.rglob("__pycache__")):
        shutil.rmtree(cache)
    subprocess.run(
        [
            str(python), "-m", "compileall", "-q", "-j", "0",
            "--invalidation-mode", "unchecked-hash",
            "-s", str(artifact), "-p", "/var/task", str(artifact),
        ],
        check=True,
    )  # fmt: skip


def check_contents(artifact: Path) -> None:
    present = {p.name.split(".")[0].split("-")[0].lower() for p in artifact.iterdir()}
    bad = sorted(present & set(FORBIDDEN))
    bad += [name for name in EXCLUDED_SOURCES if (artifact / name).exists()]
    if bad:
        raise SystemExit(f"build: the artifact must not contain {', '.join(bad)}")
    for name in SOURCES:
        if not (artifact / name / "__init__.py").is_file():
            raise SystemExit(f"build: the artifact lacks the {name} package")


def measure(artifact: Path) -> tuple[int, int, int]:
    """Unzipped bytes, zipped bytes (deflate, as `sam deploy` uploads it) and the file count."""
    files = [p for p in artifact.rglob("*") if p.is_file()]
    unzipped = sum(p.stat().st_size for p in files)
    with tempfile.TemporaryFile() as tmp:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                archive.write(path, path.relative_to(artifact))
        zipped = tmp.tell()
    return unzipped, zipped, len(files)


def largest(artifact: Path, count: int = 6) -> str:
    sizes = []
    for entry in artifact.iterdir():
        paths = [entry] if entry.is_file() else [p for p in entry.rglob("*") if p.is_file()]
        sizes.append((sum(p.stat().st_size for p in paths), entry.name))
    return ", ".join(f"{name} {size / 1e6:.1f}" for size, name in sorted(sizes)[::-1][:count])


def install_runtime_sdk(target: Path, python: Path, requirements: list[str]) -> None:
    """The SDK the runtime provides, at the locked versions (pure Python wheels)."""
    shutil.rmtree(target, ignore_errors=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as req:
        req.write("\n".join(requirements) + "\n")
    try:
        subprocess.run(
            [*uv_command(), "pip", "install", "--quiet", "--no-deps", "--python", str(python),
             "--target", str(target), "-r", req.name],
            check=True,
        )  # fmt: skip
    finally:
        os.unlink(req.name)


def build(architecture: str, work_dir: Path, runtime_sdk: Path | None) -> BuildInfo:
    started = time.monotonic()
    python = find_python312()
    print(f"build: {architecture} with {python}", flush=True)
    lambda_requirements = export_requirements(prune_sdk=True)
    kept = {project_name(r) for r in lambda_requirements}
    everything = export_requirements(prune_sdk=False)
    sdk_requirements = [r for r in everything if project_name(r) not in kept]
    _, left_out = stage(work_dir, lambda_requirements)
    if left_out:
        print(f"build: left out (they import flytekit or gRPC): {', '.join(left_out)}")
    artifact = sam_build(work_dir, architecture, python)
    dropped = drop_distributions(artifact, {project_name(r) for r in sdk_requirements})
    if dropped:
        print(f"build: dropped what the runtime provides: {', '.join(dropped)}")
    print(f"build: pruned {prune(artifact) / 1e6:.1f} MB of stubs, protos and unused Powertools")
    compile_bytecode(artifact, python)
    check_contents(artifact)
    if runtime_sdk is not None:
        install_runtime_sdk(runtime_sdk, python, sdk_requirements)
    unzipped, zipped, files = measure(artifact)
    info = BuildInfo(
        architecture=architecture,
        python=str(python),
        artifact=str(artifact),
        runtime_sdk=str(runtime_sdk) if runtime_sdk else None,
        unzipped_bytes=unzipped,
        zipped_bytes=zipped,
        files=files,
        seconds=round(time.monotonic() - started, 1),
    )
    (work_dir / INFO_FILE).write_text(json.dumps(asdict(info), indent=2) + "\n")
    print(
        f"build: {artifact}\n"
        f"build: {unzipped / 1e6:.1f} MB unzipped in {files} files (limit "
        f"{SIZE_LIMIT_BYTES / 1e6:.0f} MB), {zipped / 1e6:.1f} MB zipped, {info.seconds:.0f} s\n"
        f"build: largest (MB): {largest(artifact)}"
    )
    if unzipped >= SIZE_LIMIT_BYTES:
        raise SystemExit(f"build: the artifact is over {SIZE_LIMIT_BYTES / 1e6:.0f} MB unzipped")
    return info


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=("arm64", "x86_64"), default="arm64")
    parser.add_argument("--work-dir", type=Path, default=ROOT, help="where to stage and build")
    parser.add_argument("--runtime-sdk", type=Path, help="also install the runtime's SDK here")
    args = parser.parse_args(argv)
    work_dir = args.work_dir.resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    build(args.arch, work_dir, args.runtime_sdk.resolve() if args.runtime_sdk else None)


if __name__ == "__main__":
    main()
