"""What checking MNIST costs on each load: the fast path (size, date and a CRC-32 of the tensors as
loaded) against hashing every file with SHA-256, in seconds.

    python benchmarks/bench_data_check.py --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import zlib
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
from mnist_core import data as data_mod  # noqa: E402
from mnist_core import load_mnist  # noqa: E402


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    root = data_mod.resolve_root()
    raw = root / "MNIST" / "raw"
    with tempfile.TemporaryDirectory() as cache:
        os.environ[data_mod.CACHE_DIR_ENV] = cache
        first = timed(lambda: load_mnist(root), 1)          # hashes every file, remembers them
        fast = timed(lambda: load_mnist(root), args.runs)   # size, date and CRC-32 only
    data = load_mnist(root)
    tensors = [data.train_images, data.train_labels, data.test_images, data.test_labels]
    crc = timed(lambda: [zlib.crc32(t.contiguous().numpy()) for t in tensors], args.runs)
    sha = timed(lambda: [data_mod._sha256(raw / stem) for stem in data_mod.MNIST_SHA256], args.runs)
    results = {
        "machine": {"cpus": torch.get_num_threads(), "python": platform.python_version(), "torch": torch.__version__},
        "runs": args.runs,
        "first_load_s": first[0],
        "load_fast_path_s": fast,
        "crc32_of_loaded_tensors_s": crc,
        "sha256_of_the_four_files_s": sha,
        "bytes_checked": sum(t.numel() * t.element_size() for t in tensors),
    }
    out = HERE / "results" / "data_check.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    for key in ("load_fast_path_s", "crc32_of_loaded_tensors_s", "sha256_of_the_four_files_s"):
        print(f"{key}: median {statistics.median(results[key]) * 1000:.1f} ms  "
              f"(all: {', '.join(f'{x * 1000:.1f}' for x in results[key])})")
    print(f"first_load_s: {first[0]:.2f} s; bytes checked: {results['bytes_checked']:,}; written {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
