"""The tutorial's recipe, the usual way against mnist_core, in one run.

Each program runs as its own process, alternating, ``--runs`` times (after one
untimed warm-up of each, so disk caches are equally warm). Reported: the
median training seconds (as each program measures its own loop) and the
median whole-process seconds (python start, imports, data, training, test),
and the ratios. Usage:

    MNIST_DATA_DIR=../shared/datasets python benchmarks/bench_train.py --runs 3
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

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def run(cmd: list[str], json_from: str | None = None) -> dict:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    if json_from:
        result = json.loads(Path(json_from).read_text())
    else:
        result = json.loads(proc.stderr.strip().splitlines()[-1])
    return {"process_seconds": wall, "train_seconds": result["train_seconds"],
            "test_accuracy": result["test_accuracy"], "device": result["device"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data-dir", default=os.environ.get("MNIST_DATA_DIR", "MNIST_data"))
    parser.add_argument("--out", default=str(HERE / "results" / "train_linear.json"))
    args = parser.parse_args()

    summary = Path(tempfile.mkdtemp()) / "summary.json"
    programs = {
        "tutorial (DataLoader + ToTensor)": ([sys.executable, str(HERE / "tutorial_baseline.py"), "--data-dir", args.data_dir], None),
        "mnist_core (python -m mnist_core)": ([sys.executable, "-m", "mnist_core", "--data-dir", args.data_dir,
                                                "--json-summary", str(summary)], str(summary)),
    }
    for cmd, json_from in programs.values():  # warm-up, not counted
        run(cmd, json_from)
    samples = {name: [] for name in programs}
    for i in range(args.runs):
        for name, (cmd, json_from) in programs.items():
            samples[name].append(run(cmd, json_from))
            print(f"run {i + 1} {name}: {samples[name][-1]}", flush=True)

    rows = {}
    for name, runs in samples.items():
        rows[name] = {
            "train_seconds_median": statistics.median(r["train_seconds"] for r in runs),
            "process_seconds_median": statistics.median(r["process_seconds"] for r in runs),
            "test_accuracy": runs[-1]["test_accuracy"],
            "device": runs[-1]["device"],
            "runs": runs,
        }
    base, ours = rows.values()
    ratios = {
        "train_speedup": base["train_seconds_median"] / ours["train_seconds_median"],
        "process_speedup": base["process_seconds_median"] / ours["process_seconds_median"],
    }
    print()
    print(f"| program | training s (median of {args.runs}) | whole process s | test accuracy |")
    print("|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['train_seconds_median']:.2f} | {r['process_seconds_median']:.2f} | {r['test_accuracy']:.4f} |")
    print(f"\nspeed-up: training {ratios['train_speedup']:.1f}x, whole process {ratios['process_speedup']:.1f}x")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                           "python": platform.python_version()},
                               "rows": rows, "ratios": ratios}, indent=2) + "\n")


if __name__ == "__main__":
    main()
