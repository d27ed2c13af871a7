"""Cold-start import cost: our Lambda entry point against the upstream flytekit connector.

Each sample is a fresh interpreter (``python -X importtime``-free wall clock of ``-c 'import M'``),
with and without bytecode, since a ``sam build`` artifact ships no ``.pyc`` unless we compile it.

    .venv/bin/python bench/cold_start.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
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
    ours, anchor = results.values()
    print(
        f"\nours / anchor: {ours[0] / anchor[0]:.2f}x with .pyc, {ours[1] / anchor[1]:.2f}x without"
    )


if __name__ == "__main__":
    main()
