import os

import pytest
import torch
import torchvision

from helpers import copy_raw
from mnist_core import DataError, load_mnist
from mnist_core import data as data_mod


def test_shapes_and_dtypes(mnist):
    assert mnist.train_images.shape == (60000, 28, 28) and mnist.train_images.dtype == torch.uint8
    assert mnist.test_images.shape == (10000, 28, 28)
    assert mnist.train_labels.dtype == torch.int64 and mnist.test_labels.shape == (10000,)
    assert set(mnist.train_labels.unique().tolist()) == set(range(10))
    assert mnist.classes == tuple("0123456789")


def test_the_files_are_read_as_torchvision_reads_them_without_importing_it(mnist, mnist_root):
    import subprocess
    import sys
    code = ("import sys; from mnist_core import load_mnist; load_mnist(sys.argv[1]); "
            "print('torchvision' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(mnist_root)], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr[-2000:]   # its import alone costs about 1.2 s
    for train in (True, False):
        theirs = torchvision.datasets.MNIST(str(mnist_root), train=train)
        ours = (mnist.train_images, mnist.train_labels) if train else (mnist.test_images, mnist.test_labels)
        assert torch.equal(ours[0], theirs.data) and torch.equal(ours[1], theirs.targets)


def test_root_from_environment(mnist_root, monkeypatch):
    monkeypatch.setenv("MNIST_DATA_DIR", str(mnist_root))
    assert data_mod.resolve_root() == mnist_root
    monkeypatch.delenv("MNIST_DATA_DIR")
    assert str(data_mod.resolve_root()) == "MNIST_data"
    assert load_mnist(device="cpu", root=mnist_root).test_labels.shape == (10000,)


def test_verified_files_are_not_hashed_again(mnist_root, tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_CACHE_DIR", str(tmp_path / "cache"))
    calls = []
    real = data_mod._sha256
    monkeypatch.setattr(data_mod, "_sha256", lambda p: calls.append(p) or real(p))
    load_mnist(mnist_root)
    assert len(calls) == 4
    load_mnist(mnist_root)
    assert len(calls) == 4  # remembered by (path, size, mtime)


def test_a_file_is_hashed_again_after_its_mtime_changes(mnist_root, tmp_path, monkeypatch, offline):
    monkeypatch.setenv("MNIST_CACHE_DIR", str(tmp_path / "cache"))
    raw = copy_raw(mnist_root, tmp_path / "data")
    calls = []
    real = data_mod._sha256
    monkeypatch.setattr(data_mod, "_sha256", lambda p: calls.append(p.name) or real(p))
    load_mnist(tmp_path / "data")
    assert len(calls) == 4
    touched = raw / "t10k-labels-idx1-ubyte"
    stat = touched.stat()
    os.utime(touched, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))  # same size, new mtime
    load_mnist(tmp_path / "data")
    assert calls[4:] == ["t10k-labels-idx1-ubyte"]


def test_corrupted_file_is_refused(mnist_root, tmp_path, offline):
    raw = copy_raw(mnist_root, tmp_path)
    label_file = raw / "t10k-labels-idx1-ubyte"
    blob = bytearray(label_file.read_bytes())
    blob[100] = (blob[100] + 1) % 10  # a plausible label, a wrong file
    label_file.write_bytes(bytes(blob))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.*SHA-256.*does not match"):
        load_mnist(tmp_path)


def test_truncated_file_is_refused(mnist_root, tmp_path, offline):
    raw = copy_raw(mnist_root, tmp_path)
    images = raw / "t10k-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-784])
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte: truncated"):
        load_mnist(tmp_path)


def test_bad_header_is_refused(mnist_root, tmp_path, offline):
    raw = copy_raw(mnist_root, tmp_path)
    (raw / "train-labels-idx1-ubyte").write_bytes(b"<html>Not found</html>")
    with pytest.raises(DataError, match="train-labels-idx1-ubyte: not an IDX file"):
        load_mnist(tmp_path)


def test_missing_files_offline_says_what_to_do(tmp_path, offline):
    with pytest.raises(DataError) as info:
        load_mnist(tmp_path)
    message = str(info.value)
    assert "train-images-idx3-ubyte" in message and "MNIST_DATA_DIR" in message and "--data-dir" in message


def test_gzipped_files_alone_are_enough(mnist_root, tmp_path, offline):
    copy_raw(mnist_root, tmp_path, suffix=".gz")
    data = load_mnist(tmp_path)
    assert data.train_images.shape == (60000, 28, 28)


def test_unknown_dataset():
    with pytest.raises(DataError, match="unknown dataset"):
        load_mnist(dataset="cifar")


def test_to_the_same_device_copies_nothing(mnist):
    moved = mnist.to("cpu")
    assert moved.device.type == "cpu" and moved is not mnist
    for name in ("train_images", "train_labels", "test_images", "test_labels"):
        assert getattr(moved, name).data_ptr() == getattr(mnist, name).data_ptr()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_to_cuda_keeps_values(mnist):
    moved = mnist.to("cuda")
    assert moved.device.type == "cuda" and moved.test_images.is_cuda
    assert torch.equal(moved.test_images.cpu(), mnist.test_images) and torch.equal(moved.train_labels.cpu(), mnist.train_labels)
