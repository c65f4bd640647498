"""What a training costs per image, by model, width, batch size and augmentation: the measurements
that calibrate ``mnist_core.budget``.

Each setting runs in a fresh process: MNIST loaded, then ``train()`` itself for a few batches (the
first untimed), then one evaluation of the test set. Seconds per training image come from the
batches' end times; memory is the process's peak resident set size during those batches (sampled
every 5 ms from /proc) minus its size just before training. The script then fits the coefficients
that each model's registration in ``mnist_core/models.py`` holds (``cost=WorkCost(...)``, the terms it
names) and prints them beside each setting's measured and estimated cost.

    python benchmarks/bench_work_estimate.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

# (model, width, batch_size, augment); width 0 is the model's default
SETTINGS = [
    ("linear", 0, 32, False), ("linear", 0, 1000, False), ("linear", 0, 5000, False),
    ("mlp", 800, 32, False), ("mlp", 800, 256, False), ("mlp", 800, 5000, False),
    ("mlp", 128, 256, False), ("mlp", 4096, 256, False), ("mlp", 4096, 2000, False),
    ("cnn", 8, 256, False), ("cnn", 16, 32, False), ("cnn", 16, 256, False), ("cnn", 16, 5000, False),
    ("cnn", 32, 256, False), ("cnn", 32, 256, True), ("cnn", 32, 2000, False),
    ("cnn", 64, 32, False), ("cnn", 64, 32, True), ("cnn", 64, 256, False), ("cnn", 64, 1000, False),
    ("cnn", 64, 5000, False),
]


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure_one(model: str, width: int, batch: int, augment: bool, images: int) -> dict:
    """In this process: seconds per training image, per evaluated image, and peak extra memory."""
    import ctypes

    from mnist_core import TrainConfig, load_mnist, train
    from mnist_core.evaluate import accuracy

    data = load_mnist()
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # give back what loading left, so the baseline is the data
    config = TrainConfig(model=model, width=width, batch_size=batch, augment=augment, optimizer="adam",
                         lr=0.001, epochs=1, device="cpu", eval_every_epoch=False)
    steps = 1 + max(2, images // batch)
    ends: list[float] = []
    base, peak, sampling = rss_bytes(), [0], [True]

    def sample():
        while sampling[0]:
            peak[0] = max(peak[0], rss_bytes())
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    result = train(config, data, on_batch=lambda done, total: ends.append(time.perf_counter()),
                   should_stop=lambda: len(ends) >= steps)
    sampling[0] = False
    sampler.join()
    start = time.perf_counter()
    accuracy(result.model, data.test_images, data.test_labels)
    eval_s = time.perf_counter() - start
    timed = ends  # from the end of the first batch (untimed: one-off set-up) to the last
    return {"model": model, "width": width, "batch_size": batch, "augment": augment,
            "batches_timed": len(timed) - 1,
            "train_s_per_image": (timed[-1] - timed[0]) / ((len(timed) - 1) * batch),
            "eval_s_per_image": eval_s / len(data.test_images),
            "peak_extra_bytes": max(0, peak[0] - base)}


def measure_augment(rounds: int = 25) -> dict:
    """The random affine of a batch against one training step of the width-32 CNN (batch 256),
    alternated in one process so that other work on the machine slows both alike: their ratio."""
    import statistics

    import torch
    import torch.nn.functional as F

    from mnist_core.models import build_model
    from mnist_core.train import random_affine

    torch.manual_seed(0)
    model = build_model("cnn", width=32).to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters())
    x = torch.rand(256, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (256,))
    generator = torch.Generator().manual_seed(0)
    affine, step = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        random_affine(x, generator)
        affine.append(time.perf_counter() - start)
        start = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        step.append(time.perf_counter() - start)
    a, b = statistics.median(affine[5:]), statistics.median(step[5:])
    return {"affine_s_per_image": a / 256, "step_s_per_image": b / 256, "ratio_to_cnn32_step": a / b}


def fit(rows: list[dict], augment: dict) -> dict:
    """Least squares per model of the terms its registration names (see mnist_core.budget's docstring)."""
    from mnist_core import TrainConfig
    from mnist_core.budget import parameter_count, term_values  # the one definition of the cost's terms
    from mnist_core.models import model_spec

    out = {}
    for model in sorted({r["model"] for r in rows}):
        registered = model_spec(model).cost
        time_terms, memory_terms = list(registered.train), list(registered.memory)
        mine = [r for r in rows if r["model"] == model and not r["augment"]]
        x_time = np.array([term_values(time_terms, model, r["width"], r["batch_size"]) for r in mine])
        x_mem = np.array([term_values(memory_terms, model, r["width"], r["batch_size"]) for r in mine])
        t = np.array([r["train_s_per_image"] for r in mine])
        # what the parameters take (16 bytes each) is counted apart, exactly
        m = np.array([r["peak_extra_bytes"] - 16 * parameter_count(TrainConfig(model=model, width=r["width"]))
                      for r in mine], dtype=float)
        e = np.array([r["eval_s_per_image"] for r in mine])
        out[model] = {
            # relative error on time (settings differ 100-fold), absolute on memory: nonnegative fits
            "train": dict(zip(time_terms, _nnls(x_time / t[:, None], np.ones_like(t)))),
            "eval": dict(zip(time_terms, _nnls(x_time / e[:, None], np.ones_like(e)))),
            "memory": dict(zip(memory_terms, _nnls(x_mem, m))),
        }
    # augmentation: its measured share of a cnn width-32 step, on the fitted cost of that step
    cnn32 = sum(c * v for c, v in zip(out["cnn"]["train"].values(),
                                      term_values(out["cnn"]["train"], "cnn", 32, 256)))
    out["augment_s_per_image"] = augment["ratio_to_cnn32_step"] * cnn32
    return out


def anchor(coefficients: dict) -> tuple[dict, list[dict]]:
    """Scale the fitted times to the presets' full trainings measured on a quiet machine.

    On a loaded machine every setting runs slower, each by its own factor: the fit keeps how the cost
    grows with width, batch size and augmentation, and one factor per model (the median over that model's
    presets of measured / estimated, results/models.json: median of 3 trainings, evaluations excluded)
    sets its level. The linear model and the MLP have one preset each, so their presets match by
    construction; the CNN's two presets check each other.
    """
    from mnist_core import PRESETS, preset_config
    from mnist_core.budget import estimate_work
    from mnist_core.models import WorkCost

    def estimates(coef):
        # evaluations once only: the measured seconds exclude them
        configs = {name: preset_config(name, eval_every_epoch=False) for name in PRESETS}
        return {name: estimate_work(config, cost=WorkCost(**coef[config.model]),
                                    augment_s_per_image=coef["augment_s_per_image"]).seconds
                for name, config in configs.items()}

    measured = {name: entry["seconds_median"]
                for name, entry in json.loads((HERE / "results" / "models.json").read_text())["presets"].items()}
    raw = estimates(coefficients)
    model_of = {name: preset_config(name).model for name in PRESETS}
    factors = {model: float(np.median([measured[n] / raw[n] for n in raw if model_of[n] == model]))
               for model in set(model_of.values())}
    scaled = {model: ({key: ({t: c * factors[model] for t, c in v.items()} if key in ("train", "eval") else v)
                       for key, v in terms.items()} if model in factors else terms)
              for model, terms in coefficients.items()}
    scaled["augment_s_per_image"] = coefficients["augment_s_per_image"] * factors["cnn"]
    factor = factors
    final = estimates(scaled)
    rows = [{"preset": name, "measured_train_s": measured[name], "estimate_as_measured_s": raw[name],
             "estimate_anchored_s": final[name]} for name in raw]
    for r in rows:
        print(f"{r['preset']:9} measured {r['measured_train_s']:7.1f} s   estimate: from the loaded runs "
              f"{r['estimate_as_measured_s']:7.1f} s, anchored {r['estimate_anchored_s']:7.1f} s")
    print("factors", {k: round(v, 3) for k, v in factor.items()})
    return {**scaled, "time_factors": factor}, rows


def _nnls(a: np.ndarray, b: np.ndarray) -> list[float]:
    from scipy.optimize import nnls
    return [float(c) for c in nnls(a, b)[0]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3000, help="training images timed per setting")
    parser.add_argument("--repeats", type=int, default=3, help="processes per setting")
    parser.add_argument("--refit", action="store_true",
                        help="fit and check again from the measurements in results/work_estimate.json")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a setting, as JSON: run it in this process
    args = parser.parse_args()
    out = HERE / "results" / "work_estimate.json"
    if args.refit:
        results = json.loads(out.read_text())
        results["augment"] = measure_augment()
        results["fitted"] = fit(results["settings"], results["augment"])
        results["coefficients"], results["check"] = anchor(results["fitted"])
        out.write_text(json.dumps(results, indent=2) + "\n")
        print(json.dumps(results["coefficients"], indent=1))
        return
    if args.one:
        print(json.dumps(measure_one(*json.loads(args.one), images=args.images)))
        return
    runs, rows = [], []
    for setting in SETTINGS:
        mine = []
        for _ in range(args.repeats):
            proc = subprocess.run([sys.executable, __file__, "--images", str(args.images), "--one",
                                   json.dumps(setting)], capture_output=True, text=True, cwd=ROOT)
            if proc.returncode:
                sys.exit(f"{setting}: failed\n{proc.stderr}")
            mine.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        runs += mine
        # The machine is shared: the fastest run is the one least disturbed by other work; memory
        # does not suffer from sharing, so its largest is kept.
        r = {**min(mine, key=lambda x: x["train_s_per_image"]),
             "eval_s_per_image": min(x["eval_s_per_image"] for x in mine),
             "peak_extra_bytes": max(x["peak_extra_bytes"] for x in mine)}
        rows.append(r)
        times = ", ".join(f"{x['train_s_per_image'] * 1e3:.3f}" for x in mine)
        peaks = ", ".join(f"{x['peak_extra_bytes'] / 2**20:.0f}" for x in mine)
        print(f"{r['model']:6} w={r['width']:<4} b={r['batch_size']:<5} aug={int(r['augment'])}  "
              f"train {times} ms/img  eval {r['eval_s_per_image'] * 1e3:.3f} ms/img  peak +{peaks} MB", flush=True)
    augment = measure_augment()
    fitted = fit(rows, augment)
    coefficients, checked = anchor(fitted)
    results = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                           "processor": platform.processor()},
               "images_per_setting": args.images, "repeats": args.repeats, "runs": runs, "settings": rows,
               "augment": augment, "fitted": fitted, "coefficients": coefficients, "check": checked}
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(coefficients, indent=1))
    print(f"written {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
