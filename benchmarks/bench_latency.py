"""The page's latency budget: each interaction of one visitor, timed in Chromium, against its goal.

One run of this script measures, on the same machine for browser and server:

- **cold**: a fresh ``streamlit run`` (MNIST not in its memory; the tensor cache on disk may be there, as on
  any server that ran before): from the server answering its health check to the first Train's finished page,
  the page's loading included;
- **train**: Train pressed (default settings, a new workspace each round) → the first epoch's point on the
  live chart, and → the finished page (metrics, compare chart, mistakes, templates, drawing section);
- **stroke**: mouse released on the canvas → the prediction and the probabilities on screen (the canvas cleared
  before each stroke; the model is the visitor's trained one);
- **cli**: ``python -m mnist_core`` as a whole process; and ``python -m mnist_core --model cnn``
  (whole process) against one epoch of the usual tutorial CNN (``usual_cnn.py``, training only), same run.

Medians and worsts against the budgets of the page's latency issue; raw figures in results/latency.json.

    MNIST_DATA_DIR=../shared/datasets python benchmarks/bench_latency.py --rounds 5 --strokes 8 --cli-runs 3
    MNIST_DATA_DIR=../shared/datasets python benchmarks/bench_latency.py --before REV   # and an earlier revision
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_page import CHROMIUM_ARGS, HERE, IDLE, ROOT, start_server
from revision import add_worktree, remove_worktree

sys.path.insert(0, str(ROOT / "tests"))
from helpers import draw_on  # noqa: E402  (the tests' mouse strokes)
BUDGETS = {  # seconds
    "cold_first_train": 3.0,
    "train_to_first_epoch": 0.5,
    "train_to_finished_page": 2.0,
    "stroke_to_prediction": 0.3,
    "cli_process": 2.5,
}
CNN_RATIO_GOAL = 5.0  # usual CNN epoch / our CNN whole process
STROKES = {"1": [[(140, 40), (140, 240)]], "7": [[(60, 50), (220, 50), (120, 250)]]}


def summary(xs: list[float]) -> dict:
    return {"median_s": round(statistics.median(xs), 3), "worst_s": round(max(xs), 3),
            "all_s": [round(x, 3) for x in xs]}


def stroke(page, points) -> None:
    draw_on(page, page.locator(".st-key-draw canvas.upper-canvas"), points, steps=10)


def finished(page, number: int) -> None:
    """Everything the finished page draws for run ``number`` is on screen and the script run is over."""
    page.get_by_text(f"Mistakes of run #{number}").wait_for(timeout=600_000)
    for key in ("live-chart", "compare-chart", "confusion"):
        page.locator(f".st-key-{key} .main-svg").first.wait_for(timeout=600_000)
    page.locator(".st-key-weights :is(img, .main-svg)").first.wait_for(timeout=600_000)  # an image (Plotly before)
    page.locator("[data-testid=stMetricValue]").first.wait_for(timeout=600_000)
    page.locator(IDLE).wait_for(timeout=600_000)
    page.wait_for_function("Array.from(document.images).every(img => img.complete)", timeout=60_000)


def settled(page) -> None:
    """The page as a visitor finds it before pressing anything: script run over, every frame and image in,
    then a second (a click sooner waits behind the first drawing of the page)."""
    page.locator(IDLE).wait_for(timeout=120_000)
    page.wait_for_load_state("networkidle")
    page.wait_for_function("Array.from(document.images).every(img => img.complete)", timeout=60_000)
    time.sleep(1.0)


def train_round(browser, url: str) -> dict:
    page = browser.new_page(viewport={"width": 1280, "height": 3400})
    try:
        page.goto(url)  # no ws in the address: a new, empty workspace
        settled(page)
        start = time.perf_counter()
        page.get_by_role("button", name="Train", exact=True).click()
        page.locator(".st-key-live-chart .main-svg").first.wait_for(timeout=600_000)
        first = time.perf_counter() - start
        finished(page, 1)
        return {"first_epoch_s": first, "finished_s": time.perf_counter() - start}
    finally:
        page.close()


def strokes(browser, url: str, count: int) -> list[float]:
    page = browser.new_page(viewport={"width": 1280, "height": 3400})
    try:
        page.goto(url)
        settled(page)
        page.get_by_role("button", name="Train", exact=True).click()
        finished(page, 1)
        settled(page)
        out = []
        for i in range(count + 1):
            if i:
                page.get_by_role("button", name="Clear", exact=True).click()
                page.get_by_text("Draw a digit in the black square").wait_for(timeout=30_000)
                settled(page)
            stroke(page, STROKES["1" if i % 2 == 0 else "7"])
            released = time.perf_counter()
            page.locator(".st-key-prediction").wait_for(timeout=30_000)
            page.locator(".st-key-probabilities .main-svg").first.wait_for(timeout=30_000)
            if i:  # the first stroke also loads the canvas's scripts: a warm-up, not counted
                out.append(time.perf_counter() - released)
            page.locator(IDLE).wait_for(timeout=30_000)
        return out
    finally:
        page.close()


def cold_train(browser, cwd: Path) -> tuple:
    """A fresh server: from its health check answering to the first Train's finished page."""
    proc, url = start_server({**os.environ, "MNIST_STATE_DIR": tempfile.mkdtemp()}, cwd)
    ready = time.perf_counter()
    page = browser.new_page(viewport={"width": 1280, "height": 3400})
    page.goto(url)
    page.get_by_role("button", name="Train", exact=True).click()
    finished(page, 1)
    cold = time.perf_counter() - ready
    page.close()
    return proc, url, cold


def page_part(sides: dict[str, Path], rounds: int, stroke_count: int) -> dict:
    """Each side (a checkout) served by its own server; rounds alternate between the sides."""
    from playwright.sync_api import sync_playwright
    out = {name: {"train": [], "strokes": []} for name in sides}
    servers = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            for name, cwd in sides.items():
                proc, url, cold = cold_train(browser, cwd)
                servers[name] = (proc, url)
                out[name]["cold"] = cold
                print(f"{name}: cold first Train {cold:.2f} s", flush=True)
            for _ in range(rounds):
                for name, (_, url) in servers.items():
                    out[name]["train"].append(train_round(browser, url))
                    print(name, "train", {k: round(v, 2) for k, v in out[name]["train"][-1].items()}, flush=True)
            for name, (_, url) in servers.items():
                out[name]["strokes"] = strokes(browser, url, stroke_count)
                print(name, "strokes", [round(x, 3) for x in out[name]["strokes"]], flush=True)
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait(timeout=30)
            browser.close()
    return {name: {"cold_first_train": summary([o["cold"]]),
                   "train_to_first_epoch": summary([t["first_epoch_s"] for t in o["train"]]),
                   "train_to_finished_page": summary([t["finished_s"] for t in o["train"]]),
                   "stroke_to_prediction": summary(o["strokes"])} for name, o in out.items()}


def timed(cmd: list[str], cwd: Path = ROOT) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def cli_part(sides: dict[str, Path], runs: int) -> dict:
    py = sys.executable
    processes = {name: [] for name in sides}
    for _ in range(runs):
        for name, cwd in sides.items():
            processes[name].append(timed([py, "-m", "mnist_core"], cwd))
    print("cli", {k: [round(x, 2) for x in v] for k, v in processes.items()}, flush=True)
    out = {name: {"cli_process": summary(v)} for name, v in processes.items()}
    now = list(sides)[-1]
    cnn = timed([py, "-m", "mnist_core", "--model", "cnn"], sides[now])
    usual = subprocess.run([py, str(HERE / "usual_cnn.py"), "--epochs", "1", "--warmup-batches", "5"], cwd=ROOT,
                           check=True, capture_output=True, text=True).stdout.strip().splitlines()
    usual_epoch = json.loads(usual[-1])["train_seconds"]
    print(f"cnn process {cnn:.2f} s, usual CNN epoch {usual_epoch:.2f} s", flush=True)
    out[now].update({"cnn_process_s": round(cnn, 2), "usual_cnn_epoch_s": usual_epoch,
                     "cnn_ratio": round(usual_epoch / cnn, 2)})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--strokes", type=int, default=8)
    parser.add_argument("--cli-runs", type=int, default=3)
    parser.add_argument("--part", choices=["all", "page", "cli"], default="all")
    parser.add_argument("--before", metavar="REV", help="also measure this git revision (checked out into a "
                        "temporary worktree), alternating with the current code")
    parser.add_argument("--out", default=str(HERE / "results" / "latency.json"))
    args = parser.parse_args()
    sides = {"now": ROOT}
    old = None
    if args.before:
        old = add_worktree(args.before)
        sides = {"before": old, "now": ROOT}
    report = {"cpus": os.cpu_count(), "budgets_s": BUDGETS, "cnn_ratio_goal": CNN_RATIO_GOAL,
              "before": args.before, "sides": {name: {} for name in sides}}
    try:
        if args.part in ("all", "page"):
            for name, r in page_part(sides, args.rounds, args.strokes).items():
                report["sides"][name].update(r)
        if args.part in ("all", "cli"):
            for name, r in cli_part(sides, args.cli_runs).items():
                report["sides"][name].update(r)
    finally:
        if old is not None:
            remove_worktree(old)
    for side, results in report["sides"].items():
        for name, budget in BUDGETS.items():
            if name in results:
                r = results[name]
                r["budget_s"], r["met"] = budget, r["median_s"] <= budget
                print(f"{side} {name}: median {r['median_s']} s, worst {r['worst_s']} s, budget {budget} s: "
                      f"{'met' if r['met'] else 'MISSED'}")
        if "cnn_ratio" in results:
            results["cnn_ratio_met"] = results["cnn_ratio"] >= CNN_RATIO_GOAL
            print(f"{side} cnn: {results['cnn_ratio']}x (goal {CNN_RATIO_GOAL}x)")
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
