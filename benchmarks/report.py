"""Rewrite the READMEs' result tables from benchmarks/results/*.json, so no figure is typed by hand.

    python benchmarks/report.py            # rewrite README.md and benchmarks/README.md
    python benchmarks/report.py --check    # exit 1 if either is out of date

Each table sits between ``<!-- report:NAME -->`` and ``<!-- /report:NAME -->`` comments.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
TOP_README = HERE.parent / "README.md"
BENCH_README = HERE / "README.md"
GOAL_OF_USUAL_EPOCH = 0.25   # cnn-fast should reach 99.0% within a quarter of the usual CNN's first epoch

MODEL_TEXT = {  # what the top README says of each preset's model and settings
    "tutorial": ("`tutorial` (default)", "`linear`: `Linear(784, 10)`"),
    "mlp": ("`mlp`", "`mlp`: 784-800-10, ReLU"),
    "cnn-fast": ("`cnn-fast`", "`cnn`: 3 × (conv 3×3, max-pool, batch norm, ReLU), 16-32-64 channels"),
    "cnn-best": ("`cnn-best`", "`cnn`, 32-64-128 channels"),
}


def load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def settings_text(config: dict) -> str:
    parts = [f"{ {'sgd': 'SGD', 'adam': 'Adam', 'momentum': 'SGD + Nesterov momentum'}[config.get('optimizer', 'sgd')]} "
             f"lr {config.get('lr', 0.1):g}" + (" one-cycle" if config.get("schedule") == "onecycle" else ""),
             f"batch {config.get('batch_size', 1000)}", f"{config.get('epochs', 10)} epochs"]
    if config.get("width"):
        parts.append(f"width {config['width']}")
    if config.get("label_smoothing"):
        parts.append(f"label smoothing {config['label_smoothing']:g}")
    if config.get("augment"):
        parts.append("random affine augmentation")
    return ", ".join(parts)


def seconds_text(s: float) -> str:
    return f"{s / 60:.1f} min" if s >= 120 else f"{s:.1f} s"


def presets_top(models: dict) -> str:
    rows = ["| preset | model | settings | test accuracy | training time, 2 CPU cores |", "|---|---|---|---|---|"]
    for name, r in models["presets"].items():
        label, model = MODEL_TEXT.get(name, (f"`{name}`", f"`{r['config'].get('model', 'linear')}`"))
        rows.append(f"| {label} | {model} | {settings_text(r['config'])} | {pct(r['accuracy_mean'])} ± "
                    f"{100 * r['accuracy_std']:.2f} | {seconds_text(r['seconds_median'])} |")
    seeds = len(next(iter(models["presets"].values()))["runs"])
    rows.append("")
    rows.append(f"Accuracy: mean ± std over {seeds} seeds; times: median of the {seeds} runs, on a shared "
                "2-core machine (every run in `benchmarks/README.md`).")
    return "\n".join(rows)


def presets_bench(models: dict) -> str:
    rows = ["| preset | test accuracy (mean ± std) | training s, each seed | training s (median) |", "|---|---|---|---|"]
    for name, r in models["presets"].items():
        each = ", ".join(f"{run['train_seconds']:.1f}" for run in r["runs"])
        rows.append(f"| `{name}` | {pct(r['accuracy_mean'])} ± {100 * r['accuracy_std']:.2f} | {each} | "
                    f"{r['seconds_median']:.1f} |")
    t = models.get("time_to_99")
    if t:
        rows += [""] + time_to_99(t)
    return "\n".join(rows)


def time_to_99(t: dict) -> list[str]:
    fast = t["cnn_fast_seconds_to_99"]
    reached = [x for x in fast if x is not None]
    each = ", ".join("not reached" if x is None else f"{x:.1f}" for x in fast)
    usual = t.get("usual_cnn_runs") or [t["usual_cnn_epochs"]]  # older records: one run, one epoch
    lines = [f"**Time to 99.0%** (same run): `cnn-fast` reached 99.0% on the test set at the end of an epoch "
             f"after {each} s (each seed). The usual CNN (`usual_cnn.py`), {len(usual)} run(s):"]
    for epochs in usual:
        lines.append("- " + "; ".join(f"epoch {e['epoch']} at {e['train_seconds']:.1f} s: {pct(e['test_accuracy'])}"
                                      for e in epochs))
    lines.append("")
    if reached:
        ratio = t.get("ratio_of_usual_epoch")
        if ratio is not None:
            verdict = "met" if ratio <= GOAL_OF_USUAL_EPOCH else "**MISSED**"
            lines.append(f"Median {statistics.median(reached):.1f} s = **{ratio:.4f}** of the usual CNN's first "
                         f"epoch (median): the goal of ≤ {GOAL_OF_USUAL_EPOCH} was {verdict}.")
        if "ratio_of_usual_time_to_99" in t:
            usual_99 = [x for x in t["usual_cnn_seconds_to_99"] if x is not None]
            lines.append(f"The usual CNN passed 99.0% after {', '.join(f'{x:.1f}' for x in usual_99)} s "
                         f"({len(usual_99)} of {len(usual)} runs): `cnn-fast` takes "
                         f"{t['ratio_of_usual_time_to_99']:.3f} of that time (medians).")
        else:
            lines.append("The usual CNN's own time to 99.0% is not in this record (one run, one epoch, "
                         "without a warm-up).")
    return lines


def tutorial_speed(linear: dict) -> str:
    rows = ["| program | training s, each run | training s (median) | whole process s (median) | test accuracy |",
            "|---|---|---|---|---|"]
    for name, r in linear["rows"].items():
        each = ", ".join(f"{run['train_seconds']:.2f}" for run in r["runs"])
        rows.append(f"| {name} | {each} | {r['train_seconds_median']:.2f} | {r['process_seconds_median']:.2f} | "
                    f"{r['test_accuracy']:.4f} |")
    ratios = linear["ratios"]
    rows.append("")
    rows.append(f"Speed-up in this record (ratio of medians): training **{ratios['train_speedup']:.1f}x**, "
                f"whole process {ratios['process_speedup']:.1f}x.")
    return "\n".join(rows)


def search_table(search: dict) -> str:
    rows = [f"| preset | candidate | validation accuracy ({search['validation_size']:,} held out) | training s |",
            "|---|---|---|---|"]
    for c in search["candidates"]:
        mark = " (the preset)" if c["is_preset"] else ""
        rows.append(f"| `{c['preset']}` | {settings_text(c['candidate'])}{mark} | {pct(c['val_accuracy'])} | "
                    f"{c['train_seconds']:.1f} |")
    never = all(a is None for c in search["candidates"] for a in c["test_accuracies"])
    rows.append("")
    for preset in dict.fromkeys(c["preset"] for c in search["candidates"]):
        mine = [c for c in search["candidates"] if c["preset"] == preset]
        best = max(mine, key=lambda c: c["val_accuracy"])
        chosen = next((c for c in mine if c["is_preset"]), None)
        if chosen is None or best is chosen:
            rows.append(f"- `{preset}`: " + ("the preset is the best candidate." if chosen else "the preset did not run."))
        else:
            gap = 100 * (best["val_accuracy"] - chosen["val_accuracy"])
            rows.append(f"- `{preset}`: a candidate scored {gap:.2f} points above the preset "
                        f"({settings_text(best['candidate'])}), on one seed.")
    rows.append("")
    count = len(search["candidates"])
    rows.append(f"{count} candidate{'s' if count != 1 else ''}, every one that ran; the test set was "
                + ("never scored." if never else "scored by some candidate: rerun the search."))
    return "\n".join(rows)


def sections() -> dict[Path, dict[str, str]]:
    out: dict[Path, dict[str, str]] = {TOP_README: {}, BENCH_README: {}}
    models, linear, found = load("models"), load("train_linear"), load("search")
    if models:
        out[TOP_README]["presets"] = presets_top(models)
        out[BENCH_README]["presets"] = presets_bench(models)
    if linear:
        out[BENCH_README]["tutorial-speed"] = tutorial_speed(linear)
    if found:
        out[BENCH_README]["search"] = search_table(found)
    return out


def rewrite(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- report:{re.escape(name)} -->\n).*?(<!-- /report:{re.escape(name)} -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"no <!-- report:{name} --> markers found")
    return pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a README is out of date")
    args = parser.parse_args()
    stale = []
    for path, tables in sections().items():
        text = path.read_text()
        new = text
        for name, body in tables.items():
            new = rewrite(new, name, body)
        if new != text:
            stale.append(path.name)
            if not args.check:
                path.write_text(new)
    if args.check and stale:
        print("out of date: " + ", ".join(stale) + " (run python benchmarks/report.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
