"""Every preset: test accuracy mean ± std over seeds and training seconds; and the cnn
preset's time to 99.0% against the familiar tutorial CNN trained the usual way, once per
seed, each until it passes 99.0%.

    MNIST_DATA_DIR=../shared/datasets python benchmarks/bench_models.py --seeds 0 1 2
    MNIST_DATA_DIR=../shared/datasets python benchmarks/bench_models.py --presets cnn-fast

(``--presets`` reruns some presets; the others keep their earlier rows in results/models.json.)

The presets were chosen on a validation split (``--search`` reruns that
search and writes every candidate to results/search.json: each trained with
5,000 training images held out and judged on them alone, the test set never
scored). The test set is only used for the figures reported here.

    MNIST_DATA_DIR=../shared/datasets python benchmarks/bench_models.py --search
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from mnist_core import PRESETS, TrainConfig, load_mnist, preset_config, train  # noqa: E402

# Candidates tried for the presets, judged on the validation split (see benchmarks/README.md).
# cnn-best costs about 5 minutes a run on 2 cores, so it gets two candidates only.
SEARCH = {
    "mlp": [dict(PRESETS["mlp"]), dict(PRESETS["mlp"], optimizer="momentum", lr=0.1, batch_size=128)],
    "cnn-fast": [dict(PRESETS["cnn-fast"]), dict(PRESETS["cnn-fast"], width=8, epochs=3),
                 dict(PRESETS["cnn-fast"], label_smoothing=0.0, lr=0.003),
                 dict(PRESETS["cnn-fast"], optimizer="momentum", lr=0.2, label_smoothing=0.0)],
    "cnn-best": [dict(PRESETS["cnn-best"]), dict(PRESETS["cnn-best"], augment=False)],
}
VALIDATION_SIZE = 5000


def search(data, presets: list[str], out: Path) -> None:
    """Train every candidate on 55,000 training images, judge it on the 5,000 held out; the test set is
    never scored (``evaluate_test=False``). Every candidate goes to ``out``, rewritten after each one."""
    record = {"cpus": os.cpu_count(), "validation_size": VALIDATION_SIZE, "candidates": []}
    for name in presets:
        for candidate in SEARCH.get(name, []):
            config = TrainConfig(**{**candidate, "validation_size": VALIDATION_SIZE, "evaluate_test": False})
            r = train(config, data)
            row = {"preset": name, "candidate": candidate, "is_preset": candidate == PRESETS[name],
                   "val_accuracy": r.val_accuracies[-1], "train_seconds": r.train_seconds, "device": r.device,
                   "test_accuracies": r.test_accuracies}
            record["candidates"].append(row)
            print(json.dumps(row), flush=True)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(record, indent=2) + "\n")


def run_presets(data, names, seeds) -> dict:
    rows = {}
    for name in names:
        runs = []
        for seed in seeds:
            result = train(preset_config(name, seed=seed, eval_every_epoch=True), data)
            runs.append({"seed": seed, "test_accuracy": result.test_accuracy, "train_seconds": result.train_seconds,
                         "test_accuracies": result.test_accuracies, "device": result.device,
                         "measured": time.strftime("%Y-%m-%d")})
            print(f"{name} seed {seed}: {result.test_accuracy:.4f} in {result.train_seconds:.1f} s", flush=True)
        accs = [r["test_accuracy"] for r in runs]
        secs = [r["train_seconds"] for r in runs]
        rows[name] = {"accuracy_mean": statistics.mean(accs), "accuracy_std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                      "seconds_median": statistics.median(secs), "runs": runs, "config": PRESETS[name]}
    return rows


def time_to(target: float, run: dict) -> float | None:
    """Training seconds at the end of the first epoch whose test accuracy reaches ``target``."""
    per_epoch = run["train_seconds"] / len(run["test_accuracies"])  # epochs of one preset cost the same
    for epoch, acc in enumerate(run["test_accuracies"], start=1):
        if acc is not None and acc >= target:
            return per_epoch * epoch
    return None


def usual_cnn(data_dir: str, seed: int, until: float, max_epochs: int) -> list[dict]:
    """The usual CNN in its own process, trained until its test accuracy reaches ``until``: one line per epoch."""
    proc = subprocess.run([sys.executable, str(HERE / "usual_cnn.py"), "--data-dir", data_dir, "--seed", str(seed),
                           "--until", str(until), "--epochs", str(max_epochs), "--warmup-batches", "100"],
                          capture_output=True, text=True, check=True)
    return [json.loads(line) for line in proc.stdout.splitlines()]


def usual_time_to(target: float, epochs: list[dict]) -> float | None:
    reached = [e["train_seconds"] for e in epochs if e["test_accuracy"] >= target]
    return reached[0] if reached else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--usual", action=argparse.BooleanOptionalAction, default=True,
                        help="also train the usual CNN (with cnn-fast), once per seed, until it passes 99.0%%")
    parser.add_argument("--usual-max-epochs", type=int, default=6)
    parser.add_argument("--search", action="store_true", help="rerun the validation search of the presets instead")
    parser.add_argument("--data-dir", default=os.environ.get("MNIST_DATA_DIR", "MNIST_data"))
    parser.add_argument("--out", default=str(HERE / "results" / "models.json"))
    args = parser.parse_args()
    data = load_mnist(args.data_dir)

    if args.search:
        search(data, [p for p in args.presets if p in SEARCH], HERE / "results" / "search.json")
        return

    train(TrainConfig(epochs=1), data)  # warm-up, not counted
    rows = run_presets(data, args.presets, args.seeds)
    out = Path(args.out)
    # presets not run this time keep their earlier record (each row says when it was measured)
    report = json.loads(out.read_text()) if out.exists() else {}
    report["cpus"] = os.cpu_count()
    report["presets"] = {**report.get("presets", {}), **rows}
    print("\n| preset | test accuracy (mean ± std, %d seeds) | training s (median) |" % len(args.seeds))
    print("|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {100 * r['accuracy_mean']:.2f}% ± {100 * r['accuracy_std']:.2f} | {r['seconds_median']:.1f} |")

    if args.usual and "cnn-fast" in rows:
        # the same number of runs as cnn-fast, each after an untimed warm-up, each trained until it passes 99.0%
        usual = [usual_cnn(args.data_dir, seed, 0.99, args.usual_max_epochs) for seed in args.seeds]
        fast = [time_to(0.99, run) for run in rows["cnn-fast"]["runs"]]
        usual_99 = [usual_time_to(0.99, epochs) for epochs in usual]
        first_epoch = [epochs[0]["train_seconds"] for epochs in usual]
        t = {"usual_cnn_runs": usual, "usual_cnn_seconds_to_99": usual_99, "cnn_fast_seconds_to_99": fast}
        reached, usual_reached = [x for x in fast if x is not None], [x for x in usual_99 if x is not None]
        if reached:
            t["ratio_of_usual_epoch"] = statistics.median(reached) / statistics.median(first_epoch)
            if usual_reached:
                t["ratio_of_usual_time_to_99"] = statistics.median(reached) / statistics.median(usual_reached)
        report["time_to_99"] = t
        print(json.dumps(t, indent=1))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
