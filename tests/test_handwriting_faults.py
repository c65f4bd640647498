"""Hostile handwriting files: each built here (small), each refused with a ValueError, at once.

``load_examples`` reads files that visitors upload; whatever a file declares, it must never allocate what
the file asks for, unpack more than the examples could take, run code, or raise anything but a ValueError.
"""

import io
import struct
import time
import zipfile

import numpy as np
import pytest

from mnist_core.handwriting import MAX_MEMBER_BYTES, load_examples, to_bytes

MAGIC_1_0 = b"\x93NUMPY\x01\x00"


def npy_header(header: str, magic: bytes = MAGIC_1_0) -> bytes:
    """An .npy file's start: magic, header length, the header text padded as numpy pads it."""
    text = header.encode("latin1")
    text += b" " * (-(len(magic) + 2 + len(text) + 1) % 64) + b"\n"
    return magic + struct.pack("<H", len(text)) + text


def npz(**members: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(f"{name}.npy", data)
    return buffer.getvalue()


def array(a) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, a)
    return buffer.getvalue()


LABELS = array(np.zeros(1, dtype=np.int64))
IMAGES = array(np.zeros((1, 28, 28), dtype=np.uint8))

HOSTILE = {
    "a trillion images declared": (npz(images=npy_header("{'descr': '|u1', 'fortran_order': False, "
                                                         "'shape': (1000000000000, 28, 28), }"), labels=LABELS),
                                   "at most 10,000 examples"),
    "huge images declared": (npz(images=npy_header("{'descr': '|u1', 'fortran_order': False, "
                                                   "'shape': (1, 280000, 280000), }"), labels=LABELS), "too large"),
    "text pixels": (npz(images=array(np.full((1, 28, 28), "x")), labels=LABELS), "must hold numbers"),
    "object pixels": (npz(images=npy_header("{'descr': '|O', 'fortran_order': False, 'shape': (1, 28, 28), }"),
                          labels=LABELS), "must hold numbers"),
    "structured pixels": (npz(images=array(np.zeros((1, 28, 28), dtype=[("a", "u1"), ("b", "f4")])),
                              labels=LABELS), "must hold numbers"),
    "a header that does not parse": (npz(images=npy_header("{'descr': ('<u1',\n"), labels=LABELS),
                                     "not a readable array"),
    "a header that is not a dict": (npz(images=npy_header("[1, 2, 3]"), labels=LABELS), "not a readable array"),
    "an unknown format version": (npz(images=npy_header("{}", magic=b"\x93NUMPY\x09\x00"), labels=LABELS),
                                  "not a readable array"),
    "a broken zip": (b"PK\x03\x04" + b"\x00" * 60, "not a handwriting file"),
    "an .npy, not an .npz": (IMAGES, "not a handwriting file"),
    "nothing at all": (b"", "not a handwriting file"),
    "no labels": (npz(images=IMAGES), "no 'labels'"),
    "truncated pixels": (npz(images=IMAGES[:-10], labels=LABELS), "truncated"),
    "complex labels": (npz(images=IMAGES, labels=array(np.array([1 + 1j]))), "must hold numbers"),
    "NaN pixels": (npz(images=array(np.full((1, 28, 28), np.nan, dtype=np.float32)), labels=LABELS), "0-255"),
    "infinite labels": (npz(images=IMAGES, labels=array(np.array([np.inf]))), "digits 0-9"),
    "labels of another shape": (npz(images=IMAGES, labels=array(np.zeros((1, 1), dtype=np.int64))),
                                "1 dimension"),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_file_is_refused_with_a_value_error(name):
    data, words = HOSTILE[name]
    start = time.perf_counter()
    with pytest.raises(ValueError, match=words):
        load_examples(io.BytesIO(data))
    assert time.perf_counter() - start < 0.5


def test_a_zip_bomb_is_refused_before_it_is_unpacked():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("images.npy", "w", force_zip64=True) as member:
            member.write(npy_header("{'descr': '|u1', 'fortran_order': False, 'shape': (10000, 28, 28), }"))
            zeros = bytes(1 << 20)
            for _ in range(2 * MAX_MEMBER_BYTES // len(zeros)):
                member.write(zeros)
        archive.writestr("labels.npy", LABELS)
    bomb = buffer.getvalue()
    assert len(bomb) < 200_000                                   # a small file that unpacks to 60 MB
    start = time.perf_counter()
    with pytest.raises(ValueError, match="bytes unpacked"):
        load_examples(io.BytesIO(bomb))
    assert time.perf_counter() - start < 0.5


def test_damaged_files_are_only_ever_value_errors():
    good = to_bytes(np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8), np.arange(5))
    rng = np.random.default_rng(1)
    damaged = [good[:n] for n in range(0, len(good), 97)]
    for _ in range(200):
        flipped = bytearray(good)
        for at in rng.integers(0, len(good), 3):
            flipped[at] ^= 1 << int(rng.integers(8))
        damaged.append(bytes(flipped))
    for data in damaged:
        try:
            load_examples(io.BytesIO(data))
        except ValueError:
            pass
