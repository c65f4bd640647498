"""Inside views: their computation per model, and a stroke to the updated views in a real browser.

Core: median milliseconds of ``mnist_core.explain.inside`` (model's own view + integrated gradients)
and of placing one digit on the test map, for the tutorial's linear model, the mlp preset (1 epoch)
and the shipped cnn-fast model. Browser: `streamlit run`, Chromium draws a "1" then a "7", alternately;
for each stroke, the seconds from releasing the mouse to the prediction, and to the attribution view
naming the new digit (the inside views are drawn after the prediction in the same fragment run).

    MNIST_DATA_DIR=../shared/datasets python benchmarks/bench_inside.py --strokes 8
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent / "tests")]


def core(repeats: int) -> dict:
    from mnist_core import TrainConfig, explain, load_checkpoint, load_mnist, preset_config
    from mnist_core.checkpoint import pretrained_path
    from mnist_core.jobs import run_training
    data = load_mnist()
    models = {"linear (tutorial)": run_training(TrainConfig(), data).model(),
              "mlp (1 epoch)": run_training(preset_config("mlp", epochs=1), data).model(),
              "cnn-fast (shipped)": load_checkpoint(pretrained_path())[0]}
    digit = data.test_images[0].numpy()
    out = {}
    for name, model in models.items():
        tm = explain.test_map(model, data)
        timings = {"inside_ms": [], "place_on_map_ms": []}
        for _ in range(repeats):
            t = time.perf_counter()
            explain.inside(model, digit)
            timings["inside_ms"].append(1000 * (time.perf_counter() - t))
            t = time.perf_counter()
            tm.projection.transform(explain.embedding(model, digit[None]))
            timings["place_on_map_ms"].append(1000 * (time.perf_counter() - t))
        start = time.perf_counter()
        explain.test_map(model, data)
        out[name] = {k: round(statistics.median(v), 1) for k, v in timings.items()}
        out[name]["test_map_once_s"] = round(time.perf_counter() - start, 2)
        print(name, out[name], file=sys.stderr)
    return out


def browser(strokes: int) -> dict:
    from playwright.sync_api import sync_playwright

    from helpers import CHROMIUM, draw, start_server
    url, proc = start_server(Path(os.environ.get("MNIST_DATA_DIR", "MNIST_data")))
    shapes = {"1": [[(140, 40), (140, 240)]], "7": [[(60, 50), (220, 50), (120, 250)]]}
    to_prediction, to_inside = [], []
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu",
                                                                   "--disable-background-networking"])
            page = b.new_page(viewport={"width": 1280, "height": 3400})
            page.goto(url)
            for i in range(strokes + 1):
                digit = "1" if i % 2 == 0 else "7"
                if i:
                    page.get_by_role("button", name="Clear", exact=True).click()
                    page.get_by_text("Draw a digit in the black square").wait_for(timeout=30_000)
                draw(page, shapes[digit])
                released = time.perf_counter()
                page.locator(".st-key-prediction", has_text=digit).wait_for(timeout=30_000)
                predicted = time.perf_counter()
                page.locator(".st-key-inside").get_by_text(f"what made it a {digit}").wait_for(timeout=30_000)
                inside = time.perf_counter()
                if i:  # the first stroke also loads the page's scripts: a warm-up, not counted
                    to_prediction.append(predicted - released)
                    to_inside.append(inside - released)
            b.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    summary = lambda xs: {"median_s": round(statistics.median(xs), 3), "worst_s": round(max(xs), 3),  # noqa: E731
                          "all_s": [round(x, 3) for x in xs]}
    return {"model": "cnn-fast (shipped)", "stroke_to_prediction": summary(to_prediction),
            "stroke_to_inside_views": summary(to_inside)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--strokes", type=int, default=8)
    parser.add_argument("--out", default=str(HERE / "results" / "inside.json"))
    args = parser.parse_args()
    result = {"cpus": os.cpu_count(), "core": core(args.repeats), "browser": browser(args.strokes)}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["browser"], indent=1))


if __name__ == "__main__":
    main()
