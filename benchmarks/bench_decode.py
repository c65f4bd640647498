"""What one upload costs to read: seconds and peak memory of ``open_image`` + ``split_digits``
for large PNG, JPEG and WebP files, each read in a fresh process.

Memory is the peak resident set size (RSS, from ``getrusage``) of that process minus its RSS just
before the upload was read: it counts what Pillow and libjpeg allocate in C, which tracemalloc
does not see. Time is the median of ``--runs`` processes, memory the largest.

    python benchmarks/bench_decode.py --runs 3 --label after
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def handwritten_page(size: tuple[int, int], rng: np.random.Generator | None = None) -> Image.Image:
    """Dark strokes of a three-digit number ("147") on light paper: 'L'. With ``rng``, as photographed:
    a shadow across the page and sensor noise."""
    w, h = size
    page = Image.new("L", size, 235)
    pen = ImageDraw.Draw(page)
    side, width = h // 3, max(2, h // 60)
    for k, strokes in enumerate([[[(0.5, 0), (0.5, 1)]],
                                 [[(0.7, 0), (0.1, 0.65), (0.9, 0.65)], [(0.7, 0.3), (0.7, 1)]],
                                 [[(0.1, 0), (0.9, 0), (0.4, 1)]]]):
        left, top = w // 2 - int(1.8 * side) + k * int(1.3 * side), h // 3
        for stroke in strokes:
            pen.line([(left + x * side, top + y * side) for x, y in stroke], fill=30, width=width, joint="curve")
    if rng is None:
        return page
    small = np.asarray(page.resize((w // 8, h // 8), Image.BOX), np.float32)   # noise at 1/8 size: quick
    small = small * np.linspace(0.75, 1.0, small.shape[1])[None, :] + rng.normal(0, 4, small.shape)
    shade = Image.fromarray(np.clip(small, 0, 255).astype(np.uint8)).resize(size, Image.BICUBIC)
    return Image.fromarray(np.minimum(np.asarray(shade), np.asarray(page)))


def make_cases(folder: Path) -> dict[str, Path]:
    """The uploads measured, written once as files so that making them costs the measured process nothing."""
    rng = np.random.default_rng(0)
    cases = {}

    def save(name, image, fmt, **options):
        path = folder / name
        image.save(path, fmt, **options)
        cases[name] = path

    # Like the file (6320x6320 RGBA, 183 KB): a clean drawing of a number on an opaque sheet
    # inside transparent margins.
    sheet = handwritten_page((4000, 2000))
    rgba = Image.new("RGBA", (6320, 6320), (0, 0, 0, 0))
    rgba.paste(sheet.convert("RGBA"), (1160, 2160))
    save("png-rgba-6320x6320", rgba, "PNG", optimize=True)
    del rgba
    small = Image.new("RGBA", (2800, 2800), (0, 0, 0, 0))                   # the largest RGBA PNG taken
    small.paste(sheet.resize((2600, 1300)).convert("RGBA"), (100, 750))
    save("png-rgba-2800x2800", small, "PNG", optimize=True)
    photo = handwritten_page((4000, 3000), rng).convert("RGB")
    save("jpeg-4000x3000", photo, "JPEG", quality=88)                        # a 12 MP phone photo
    save("jpeg-progressive-4000x3000", photo, "JPEG", quality=88, progressive=True)
    save("png-rgb-4000x3000", photo, "PNG")
    save("webp-4000x3000", photo, "WEBP", quality=80)
    save("webp-2000x1500", photo.resize((2000, 1500), Image.BOX), "WEBP", quality=80)
    gray16 = Image.fromarray(np.asarray(photo.convert("L")).astype(np.uint16) * 257)   # 'I;16'
    save("png-16bit-gray-4000x3000", gray16, "PNG")
    big = handwritten_page((7300, 5470), rng).convert("RGB")                 # 40 MP, the pixel limit
    save("jpeg-7300x5470", big, "JPEG", quality=85)
    save("jpeg-progressive-7300x5470", big, "JPEG", quality=85, progressive=True)
    return cases


def measure_one(path: str) -> dict:
    """Read one upload as the page does, in this (fresh) process."""
    sys.path.insert(0, str(ROOT))
    from mnist_core.preprocess import open_image, split_digits
    data = Path(path).read_bytes()
    page = os.sysconf("SC_PAGE_SIZE")
    before = int(Path("/proc/self/statm").read_text().split()[1]) * page
    start = time.perf_counter()
    try:
        image = open_image(data)
        outcome = f"{len(split_digits(image))} digits, decoded to {image.size[0]}x{image.size[1]} {image.mode}"
    except ValueError as exc:      # ImageError: a refusal with its reason
        outcome = f"refused: {exc}"
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024   # KiB on Linux
    return {"seconds": seconds, "peak_rss_mb": (peak - before) / 2**20, "outcome": outcome}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="fresh processes per file")
    parser.add_argument("--label", default="after", help="name of this measurement in the results file")
    parser.add_argument("--out", default=str(HERE / "results" / "decode.json"))
    parser.add_argument("--measure-one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_one:
        print(json.dumps(measure_one(args.measure_one)))
        return
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "mnist_core"], cwd=ROOT, capture_output=True, text=True)
    report = {"commit": commit.stdout.strip() + (" + uncommitted changes" if dirty.stdout.strip() else ""),
              "machine": f"{os.cpu_count()} CPUs, Python {platform.python_version()}, Pillow {Image.__version__}",
              "memory": "peak RSS of a fresh process minus its RSS before the read (MB)",
              "runs": args.runs, "files": {}}
    print(f"| file | KB | seconds (median of {args.runs}) | peak MB (max) | outcome |\n|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in make_cases(Path(tmp)).items():
            runs = []
            for _ in range(args.runs):
                out = subprocess.run([sys.executable, __file__, "--measure-one", str(path)],
                                     capture_output=True, text=True, check=True)
                runs.append(json.loads(out.stdout))
            row = {"kb": path.stat().st_size // 1024,
                   "seconds": [round(r["seconds"], 3) for r in runs],
                   "peak_rss_mb": [round(r["peak_rss_mb"], 1) for r in runs],
                   "outcome": runs[0]["outcome"]}
            report["files"][name] = row
            print(f"| {name} | {row['kb']} | {statistics.median(row['seconds']):.2f} | "
                  f"{max(row['peak_rss_mb']):.0f} | {row['outcome']} |", flush=True)
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.exists() else {}
    results[args.label] = report
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
