"""Teaching the model a hand: digits drawn in Chromium, fine-tuning, before and after.

For each scripted hand (tests/helpers.py: "slanted-bold", "wide-round"), Chromium draws ``--rounds``
examples of every digit with the mouse in the page's handwriting section, and the examples are
downloaded as the page offers them (.npz). Then, as the page's Fine-tune button does, for the
tutorial's linear model and the shipped cnn-fast model: the last ``--held`` examples of each digit
are held out, the model is fine-tuned on the rest (mnist_core.handwriting), and the accuracy on
the held-out drawings and on the MNIST test set is measured before and after.

    MNIST_DATA_DIR=../shared/datasets python benchmarks/bench_handwriting.py --rounds 4 --held 2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent / "tests")]


def draw_hand(url: str, hand, rounds: int, seed: int, out: Path) -> Path:
    from playwright.sync_api import sync_playwright

    from helpers import CHROMIUM, teach
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu",
                                                               "--disable-background-networking"])
        page = b.new_page(viewport={"width": 1280, "height": 3000})
        page.goto(url)
        teach(page, hand, rounds, seed=seed)
        with page.expect_download() as download:
            page.locator(".st-key-handwriting").get_by_role("button", name="Download my digits (.npz)").click()
        download.value.save_as(out)
        b.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4, help="examples drawn of each digit, per hand")
    parser.add_argument("--held", type=int, default=2, help="of each digit, held out for measuring")
    parser.add_argument("--out", default=str(HERE / "results" / "handwriting.json"))
    args = parser.parse_args()

    from helpers import HANDS
    from mnist_core import TrainConfig, load_checkpoint, load_mnist
    from mnist_core.checkpoint import pretrained_path
    from mnist_core.handwriting import accuracy_on, fine_tune_config, fine_tune_start, held_out_split, load_examples
    from mnist_core.jobs import run_training
    from helpers import start_server

    data = load_mnist()
    tutorial = run_training(TrainConfig(), data)
    shipped, info = load_checkpoint(pretrained_path())
    models = {"linear (tutorial)": (tutorial.model(), TrainConfig(), tutorial.evaluation.accuracy),
              "cnn-fast (shipped)": (shipped, info["config"], info["metrics"]["test_accuracy"])}
    url, proc = start_server(Path(os.environ.get("MNIST_DATA_DIR", "MNIST_data")))
    results = {}
    try:
        for seed, name in enumerate(["slanted-bold", "wide-round"]):
            path = draw_hand(url, HANDS[name], args.rounds, seed, HERE / "results" / f"hand-{name}.npz.tmp")
            images, labels = load_examples(path)
            path.unlink()
            train_idx, held_idx = held_out_split(labels, per_digit=args.held)
            results[name] = {"drawn": len(labels), "trained_on": len(train_idx), "held_out": len(held_idx)}
            for model_name, (model, config, mnist_before) in models.items():
                start = time.perf_counter()
                tuned = run_training(fine_tune_config(config), data,
                                     start=fine_tune_start(model, images[train_idx], labels[train_idx]))
                results[name][model_name] = {
                    "held_out_before": round(accuracy_on(model, images[held_idx], labels[held_idx]), 4),
                    "held_out_after": round(accuracy_on(tuned.model(), images[held_idx], labels[held_idx]), 4),
                    "mnist_before": round(mnist_before, 4), "mnist_after": round(tuned.evaluation.accuracy, 4),
                    "fine_tune_train_s": round(tuned.train_seconds, 2),
                    "fine_tune_total_s": round(time.perf_counter() - start, 2)}
                print(name, model_name, results[name][model_name], file=sys.stderr)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    Path(args.out).write_text(json.dumps({"cpus": os.cpu_count(), "rounds": args.rounds, "held": args.held,
                                          "hands": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
