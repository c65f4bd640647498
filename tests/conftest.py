"""Shared fixtures. Real MNIST comes from $MNIST_DATA_DIR (set by .ci/run)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parent.parent


def data_root() -> Path | None:
    root = os.environ.get("MNIST_DATA_DIR")
    if root and (Path(root) / "MNIST" / "raw" / "train-images-idx3-ubyte").exists():
        return Path(root)
    return None


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Keep the verified-files cache of test runs out of the user's home."""
    old = os.environ.get("MNIST_CACHE_DIR")
    os.environ["MNIST_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("MNIST_CACHE_DIR", None)
    else:
        os.environ["MNIST_CACHE_DIR"] = old


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    root = data_root()
    if root is None:
        pytest.skip("real MNIST not found: set MNIST_DATA_DIR to the folder holding MNIST/raw/")
    return root


@pytest.fixture(scope="session")
def mnist(mnist_root):
    from mnist_core import load_mnist
    return load_mnist(mnist_root)


@pytest.fixture(scope="session")
def tutorial_result(mnist):
    """The tutorial's run, once per test session."""
    from mnist_core import TrainConfig, train
    return train(TrainConfig(device="cpu"), mnist)


def number_photo(mnist, digits: str, scale: int = 6) -> Image.Image:
    """A number written with MNIST test digits side by side, dark ink on light grey paper."""
    labels = mnist.test_labels.numpy()
    row = np.concatenate([mnist.test_images[int(np.nonzero(labels == int(d))[0][i])].numpy()
                          for i, d in enumerate(digits)], axis=1)
    big = Image.fromarray(255 - row).resize((row.shape[1] * scale, 28 * scale), Image.BICUBIC)
    paper = Image.new("L", (big.width + 100, big.height + 80), 230)
    paper.paste(big, (50, 40))
    return paper


def as_jpeg(image: Image.Image, quality: int = 75) -> bytes:
    """The image slightly blurred and saved as a JPEG file, as a camera would hand it over."""
    buf = io.BytesIO()
    image.convert("RGB").filter(ImageFilter.GaussianBlur(1)).save(buf, "JPEG", quality=quality)
    return buf.getvalue()
