"""The code behind a run against the run itself: the generated script for a preset against mnist_core.

The page's *The code behind this run* writes the settings as a plain PyTorch script (torchvision
DataLoader + ToTensor, mnist_core.script). This runs that script and ``python -m mnist_core`` with
the same settings on the CPU, each as its own process, alternating, ``--runs`` times after one
untimed warm-up of each (``--warmup 0``: none), and reports their test accuracies and times. The
script's training seconds are read from its output as it comes: from its ``Device:`` line (imports
done) to its last ``Epoch:`` line, so they include building the datasets and the model (well under
a second). Every run is appended to the results file with the commit. Usage:

    MNIST_DATA_DIR=../shared/datasets python benchmarks/bench_script.py --preset cnn-fast --runs 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from mnist_core import PRESETS, preset_config  # noqa: E402  (the repository on the path first)
from mnist_core.script import script_for  # noqa: E402


def run_script(path: Path) -> dict:
    """Run the generated script; time its lines as they are printed."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-u", str(path)], cwd=path.parent, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    stamped = [(time.perf_counter() - start, line.rstrip("\n")) for line in proc.stdout]
    err = proc.stderr.read()
    if proc.wait() != 0:
        sys.exit(f"the script failed:\n{err}")
    wall = time.perf_counter() - start
    ready = next(t for t, line in stamped if line.startswith("Device:"))
    epochs = [(t, line) for t, line in stamped if line.startswith("Epoch:")]
    accuracy = next(float(line.split()[1]) for _, line in stamped if line.startswith("Accuracy:"))
    return {"process_seconds": wall, "train_seconds": epochs[-1][0] - ready, "test_accuracy": accuracy,
            "epoch_costs": [float(re.search(r"cost = (\S+)", line)[1]) for _, line in epochs]}


def run_core(preset: str, data_dir: str, summary: Path) -> dict:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "mnist_core", "--preset", preset, "--device", "cpu",
                           "--data-dir", data_dir, "--json-summary", str(summary)],
                          cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"python -m mnist_core failed:\n{proc.stderr}")
    result = json.loads(summary.read_text())
    return {"process_seconds": wall, "train_seconds": result["train_seconds"],
            "test_accuracy": result["test_accuracy"], "epoch_costs": result["epoch_costs"]}


def commit() -> str:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "mnist_core"], cwd=ROOT, capture_output=True, text=True)
    return head.stdout.strip() + (" + uncommitted changes" if dirty.stdout.strip() else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="cnn-fast", choices=list(PRESETS))
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=1, choices=(0, 1),
                        help="one untimed run of each first (0 on a busy machine, where it costs minutes)")
    parser.add_argument("--data-dir", default=os.environ.get("MNIST_DATA_DIR", "MNIST_data"))
    parser.add_argument("--note", default="", help="what to know about this run (e.g. the machine was busy)")
    parser.add_argument("--out", default=str(HERE / "results" / "script.json"))
    args = parser.parse_args()

    config = preset_config(args.preset, device="cpu")
    tmp = Path(tempfile.mkdtemp())
    script = tmp / f"mnist_{config.model}.py"
    script.write_text(script_for(config).replace('data_root = "MNIST_data/"', f"data_root = {args.data_dir!r}"))
    summary = tmp / "summary.json"
    programs = {"generated script (DataLoader + ToTensor)": lambda: run_script(script),
                "mnist_core (python -m mnist_core)": lambda: run_core(args.preset, args.data_dir, summary)}
    for measure in programs.values() if args.warmup else ():  # warm-up, not counted
        measure()
    samples = {name: [] for name in programs}
    for i in range(args.runs):
        for name, measure in programs.items():
            samples[name].append(measure())
            print(f"run {i + 1} {name}: {samples[name][-1]}", flush=True)

    rows = {name: {"train_seconds_median": statistics.median(r["train_seconds"] for r in runs),
                   "process_seconds_median": statistics.median(r["process_seconds"] for r in runs),
                   "test_accuracy": [r["test_accuracy"] for r in runs], "runs": runs}
            for name, runs in samples.items()}
    script_row, core_row = rows.values()
    print(f"\n| program | training s (median of {args.runs}) | whole process s | test accuracy |\n|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['train_seconds_median']:.1f} | {r['process_seconds_median']:.1f} | "
              f"{', '.join(f'{a:.4f}' for a in r['test_accuracy'])} |")
    print(f"\ntraining {script_row['train_seconds_median'] / core_row['train_seconds_median']:.1f}x slower as a script")

    out = Path(args.out)
    history = json.loads(out.read_text()) if out.exists() else {"runs": []}
    history["runs"].append({
        "commit": commit(), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "note": args.note,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "preset": args.preset, "config": config.to_dict(), "runs_each": args.runs, "warmup": bool(args.warmup),
        "rows": rows,
    })
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(history, indent=2) + "\n")


if __name__ == "__main__":
    main()
