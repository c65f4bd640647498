"""The suite's own promise: where real MNIST cannot be had, a CI run fails, saying why; elsewhere it skips."""

import pytest

from helpers import real_mnist


@pytest.fixture
def no_mnist(tmp_path, monkeypatch, offline):
    """An empty data folder, and no way to download into it."""
    monkeypatch.setenv("MNIST_DATA_DIR", str(tmp_path))


def test_missing_mnist_fails_under_ci_with_a_message(no_mnist, monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="Under CI this is a failure, not a skip: point MNIST_DATA_DIR"):
        real_mnist()


def test_missing_mnist_is_a_skip_saying_why_elsewhere(no_mnist, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="real MNIST could not be loaded from .*MNIST data not found"):
        real_mnist()
