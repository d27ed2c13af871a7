"""Cold-start import cost: our Lambda entry point against the upstream flytekit connector.

Each sample is a fresh interpreter (``python -X importtime``-free wall clock of ``-c 'import M'``),
with and without bytecode, since a ``sam build`` artifact ships no ``.pyc`` unless we compile it.

    .venv/bin/python bench/cold_start.py [--runs 5] [--artifact]

In the project's .venv, ``handler.app`` pays for what flytekit's dependencies add (httpx, for one,
loads its click/rich CLI when those are installed). ``--artifact`` also builds the Lambda artifact
for this machine (``infra/build.py``, about 30 s) and times ``import handler.app`` from it alone on
python3.12, with the runtime's SDK beside it: the import a Lambda cold start actually pays.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TARGETS = {
    "ours: handler.app (Lambda path)": "handler.app",
    "anchor: flytekitplugins.mmcloud.connector (upstream)": "flytekitplugins.mmcloud.connector",
}


def sample(module: str, *, bytecode: bool) -> float:
    env = dict(os.environ)
    if not bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="nopyc-")  # an empty cache
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {module}"], env=env, check=True)
    return time.perf_counter() - started


def build_artifact(work: Path) -> tuple[Path, Path, Path]:
    """The artifact, the runtime SDK beside it and the python3.12 that built them."""
    arch = {"x86_64": "x86_64", "amd64": "x86_64"}.get(platform.machine().lower(), "arm64")
    sdk = work / "runtime-sdk"
    subprocess.run(
        [sys.executable, str(ROOT / "infra" / "build.py"), "--arch", arch,
         "--work-dir", str(work), "--runtime-sdk", str(sdk)],
        check=True, capture_output=True,
    )  # fmt: skip
    info = json.loads((work / ".aws-sam" / "build-info.json").read_text())
    return Path(info["artifact"]), sdk, Path(info["python"])


def sample_artifact(python: Path, paths: list[Path], module: str) -> float:
    """``python -I -S``: no site-packages, no PYTHON* variables, as in the Lambda runtime."""
    code = f"import sys; sys.path[:0] = {[str(p) for p in paths]!r}; import {module}"
    started = time.perf_counter()
    subprocess.run([str(python), "-I", "-S", "-c", code], check=True)
    return time.perf_counter() - started


def artifact_row(runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-build-") as work:
        artifact, sdk, python = build_artifact(Path(work))
        base = statistics.median(sample_artifact(python, [], "sys") for _ in range(runs))
        sample_artifact(python, [artifact, sdk], "handler.app")  # first run: page cache
        took = statistics.median(
            sample_artifact(python, [artifact, sdk], "handler.app") for _ in range(runs)
        )
    label = "ours: handler.app from the built artifact (python3.12)"
    print(f"{label:56} {(took - base) * 1000:9.0f} ms {'(ships .pyc)':>12}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--artifact", action="store_true", help="also time the built artifact")
    args = parser.parse_args()
    baseline = statistics.median(sample("sys", bytecode=True) for _ in range(args.runs))
    print(f"interpreter start (subtracted): {baseline * 1000:.0f} ms\n")
    print(f"{'import':56} {'with .pyc':>12} {'without':>12}")
    results = {}
    for label, module in TARGETS.items():
        sample(module, bytecode=True)  # warm the bytecode cache
        warm = statistics.median(sample(module, bytecode=True) for _ in range(args.runs))
        cold = statistics.median(sample(module, bytecode=False) for _ in range(args.runs))
        results[label] = (warm - baseline, cold - baseline)
        print(f"{label:56} {results[label][0] * 1000:9.0f} ms {results[label][1] * 1000:9.0f} ms")
    if args.artifact:
        artifact_row(args.runs)
    ours, anchor = results.values()
    print(
        f"\nours / anchor: {ours[0] / anchor[0]:.2f}x with .pyc, {ours[1] / anchor[1]:.2f}x without"
    )


if __name__ == "__main__":
    main()
