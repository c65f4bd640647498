"""How well photographed digits are read: MNIST test digits made photo-like
(dark ink on tinted paper, scaled 5-12x, off-centre, uneven light, noise, blur,
JPEG), brought back by ``to_mnist`` and classified, against the same digits as
they are. Also the seconds ``to_mnist`` takes per photo.

    MNIST_DATA_DIR=../shared/datasets python benchmarks/bench_photos.py --count 2000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from mnist_core import load_checkpoint, load_mnist, predict, preset_config, to_mnist, train  # noqa: E402
from mnist_core.checkpoint import pretrained_path  # noqa: E402
from mnist_core.preprocess import photo_like  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000, help="test digits to photograph (from the start)")
    parser.add_argument("--data-dir", default=os.environ.get("MNIST_DATA_DIR", "MNIST_data"))
    parser.add_argument("--out", default=str(HERE / "results" / "photos.json"))
    args = parser.parse_args()
    data = load_mnist(args.data_dir)
    models = {
        "tutorial (linear)": train(preset_config("tutorial"), data).model,
        "shipped (cnn-fast)": load_checkpoint(pretrained_path())[0],
    }
    rng = np.random.default_rng(0)
    images = data.test_images[:args.count].numpy()
    labels = data.test_labels[:args.count].numpy()
    photos = [photo_like(img, rng) for img in images]
    start = time.perf_counter()
    restored = np.stack([to_mnist(p) for p in photos])
    per_photo = (time.perf_counter() - start) / len(photos)
    report = {"count": args.count, "to_mnist_ms_per_photo": 1000 * per_photo, "models": {}}
    print(f"| model | MNIST digits as they are | the same digits photographed | drop |")
    print("|---|---|---|---|")
    for name, model in models.items():
        direct = (predict(model, images).argmax(1) == labels).mean()
        photo = (predict(model, restored).argmax(1) == labels).mean()
        report["models"][name] = {"direct": float(direct), "photo": float(photo)}
        print(f"| {name} | {100 * direct:.2f}% | {100 * photo:.2f}% | {100 * (direct - photo):.2f} pts |")
    print(f"\nto_mnist: {1000 * per_photo:.1f} ms per photo ({args.count} photos)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
