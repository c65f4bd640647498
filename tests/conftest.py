"""Shared fixtures. Real MNIST comes from $MNIST_DATA_DIR (set by .ci/run)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
