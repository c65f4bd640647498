"""Data files that cannot be read, a damaged cache, half-done work and quiet corruption."""

import gzip
import json
import os

import pytest

from mnist_core import DataError, load_mnist
from mnist_core import data as data_mod
from helpers import FILES, copy_raw


def test_a_folder_where_a_file_belongs(mnist_root, tmp_path, offline):
    raw = copy_raw(mnist_root, tmp_path)
    (raw / "t10k-labels-idx1-ubyte").unlink()
    (raw / "t10k-labels-idx1-ubyte").mkdir()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte: not a regular file"):
        load_mnist(tmp_path)


def test_a_file_the_system_refuses_to_read(mnist_root, tmp_path, offline):
    # /proc/self/mem is a regular file that even root cannot read from its start (EIO)
    if not os.path.exists("/proc/self/mem"):
        pytest.skip("no /proc/self/mem on this system")
    raw = copy_raw(mnist_root, tmp_path)
    (raw / "train-images-idx3-ubyte").unlink()
    (raw / "train-images-idx3-ubyte").symlink_to("/proc/self/mem")
    with pytest.raises(DataError, match=r"could not be read \(.+\)\. Check that this user may read it\. Delete it so "
                                        r"that it is downloaded again, or copy a good copy there \(MNIST's four "
                                        r"files live in <root>/MNIST/raw/\)\.$"):
        load_mnist(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="permission bits do not stop root; the two tests above cover root")
def test_permission_denied(mnist_root, tmp_path, offline):
    raw = copy_raw(mnist_root, tmp_path)
    (raw / "train-labels-idx1-ubyte").chmod(0)
    with pytest.raises(DataError, match="could not be read .Permission denied"):
        load_mnist(tmp_path)


@pytest.mark.parametrize("content", ["[]", "null", "42", "\"text\"", "{not json", "\xff\xfe", '{"a": [1]}'])
def test_a_damaged_cache_is_ignored_and_rebuilt(mnist_root, tmp_path, monkeypatch, content):
    monkeypatch.setenv("MNIST_CACHE_DIR", str(tmp_path))
    cache = tmp_path / "verified.json"
    cache.write_bytes(content.encode("latin-1"))
    assert load_mnist(mnist_root).train_images.shape == (60000, 28, 28)
    entries = json.loads(cache.read_text())
    assert isinstance(entries, dict)
    assert sum(key.endswith(tuple(FILES)) for key in entries) == 4


def test_a_missing_root_is_not_created_when_nothing_can_be_downloaded(tmp_path, offline):
    root = tmp_path / "new" / "deeper"
    with pytest.raises(DataError, match="MNIST data not found"):
        load_mnist(root)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_root_keeps_what_it_held(tmp_path, offline):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DataError):
        load_mnist(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_a_truncated_gz_leaves_no_partial_file(mnist_root, tmp_path, offline):
    raw = copy_raw(mnist_root, tmp_path, suffix=".gz")
    gz = raw / "train-images-idx3-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[:100_000])
    for _ in range(2):  # the second run blames the same file, the .gz, not a half-written one
        with pytest.raises(DataError, match="train-images-idx3-ubyte.gz: could not be decompressed"):
            load_mnist(tmp_path)
        assert not (raw / "train-images-idx3-ubyte").exists()
        assert not [p for p in raw.iterdir() if "partial" in p.name]
    gz.write_bytes(gzip.compress((mnist_root / "MNIST" / "raw" / "train-images-idx3-ubyte").read_bytes(), compresslevel=1))
    assert load_mnist(tmp_path).train_images.shape == (60000, 28, 28)


def test_corruption_after_verification_with_the_date_restored_is_caught(mnist_root, tmp_path, monkeypatch, offline):
    monkeypatch.setenv("MNIST_CACHE_DIR", str(tmp_path / "cache"))
    raw = copy_raw(mnist_root, tmp_path)
    load_mnist(tmp_path)  # verified and remembered
    images = raw / "train-images-idx3-ubyte"
    before = images.stat()
    with open(images, "r+b") as f:  # same size, one pixel changed, then the date put back
        f.seek(16 + 784 * 123 + 400)
        pixel = f.read(1)[0]
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([255 - pixel]))
    os.utime(images, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert images.stat().st_mtime_ns == before.st_mtime_ns and images.stat().st_size == before.st_size
    with pytest.raises(DataError, match="train-images-idx3-ubyte: SHA-256 .* does not match"):
        load_mnist(tmp_path)


def test_the_fast_path_still_skips_the_hash(mnist_root, tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_CACHE_DIR", str(tmp_path))
    hashed = []
    real = data_mod._sha256
    monkeypatch.setattr(data_mod, "_sha256", lambda p: hashed.append(p) or real(p))
    load_mnist(mnist_root)
    load_mnist(mnist_root)
    assert len(hashed) == 4


def test_a_file_that_changes_after_its_check_is_refused_when_read(mnist_root, tmp_path):
    # the layout check passed; then the file was cut short before the read (a download replacing it, say)
    raw = copy_raw(mnist_root, tmp_path)
    path = raw / "t10k-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte: changed while it was read"):
        data_mod._read_idx(path, str(tmp_path))
