"""A person's own handwriting: labelled examples, held out fairly, and fine-tuning on them.

Examples are MNIST-shaped (uint8 28x28, white ink on black, as :func:`to_mnist`
makes them) with their digits. They travel as a small ``.npz`` file with two
arrays, ``images`` (N, 28, 28) uint8 and ``labels`` (N,) int64:

    from mnist_core.handwriting import load_examples
    images, labels = load_examples("my-digits.npz")

Fine-tuning continues the current model on MNIST plus the examples (repeated
so that they make up about :data:`SHARE` of an epoch, and augmented like the
rest), one epoch at a small learning rate, through the one training loop.
"""

from __future__ import annotations

import io
import os
import tokenize
import zipfile
import zlib
from dataclasses import replace

import numpy as np
import torch
from torch import nn

from .data import TRAIN_IMAGES
from .evaluate import predict
from .i18n import N_, Message, Refused
from .train import StartFrom, TrainConfig

SHARE = 0.1           # the examples' part of a fine-tuning epoch
MAX_EXAMPLES = 10_000
# The most one array of a file may hold once decompressed: MAX_EXAMPLES images as 4-byte floats, and its
# header. Checked from the zip's directory and the array's header before anything is decompressed.
MAX_MEMBER_BYTES = MAX_EXAMPLES * 28 * 28 * 4 + 4096
NUMBERS = "biuf"      # the dtype kinds that hold pixel values and digits (no complex, text, objects, dates)


def save_examples(file: str | os.PathLike | io.IOBase, images, labels) -> None:
    images, labels = check_examples(images, labels)
    np.savez_compressed(file, images=images, labels=labels)


def to_bytes(images, labels) -> bytes:
    buffer = io.BytesIO()
    save_examples(buffer, images, labels)
    return buffer.getvalue()


def load_examples(file: str | os.PathLike | io.IOBase) -> tuple[np.ndarray, np.ndarray]:
    """Read and check a ``.npz`` of examples; :class:`~mnist_core.i18n.Refused` (a ValueError) saying what is
    wrong. Each array's size, shape and dtype are checked from the zip's directory and the array's header before
    any of it is read, so a file that declares a trillion images or unpacks to gigabytes is refused at once."""
    try:
        with zipfile.ZipFile(file) as archive:
            images = _read_member(archive, "images", ndim=3)
            labels = _read_member(archive, "labels", ndim=1)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, OSError, EOFError, NotImplementedError,
            RuntimeError) as exc:  # RuntimeError: an encrypted member; NotImplementedError: an unknown packing
        raise Refused(N_("not a handwriting file (.npz with 'images' and 'labels'): {reason}"), reason=exc) from None
    return check_examples(images, labels)


def _read_member(archive: zipfile.ZipFile, name: str, ndim: int) -> np.ndarray:
    """The array ``name`` of an .npz, its size, header, dtype and shape checked before its data is read."""
    try:
        info = archive.getinfo(f"{name}.npy")
    except KeyError:
        raise Refused(N_("not a handwriting file (.npz with 'images' and 'labels'): no '{name}'"), name=name) from None
    if info.file_size > MAX_MEMBER_BYTES:
        raise Refused(N_("'{name}' is {size:,} bytes unpacked: over the {limit:,} that {count:,} examples take"),
                      name=name, size=info.file_size, limit=MAX_MEMBER_BYTES, count=MAX_EXAMPLES)
    with archive.open(info) as stream:
        try:
            version = np.lib.format.read_magic(stream)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if read_header is None:
                raise ValueError(f"format version {version}")
            shape, fortran, dtype = read_header(stream)
        except (ValueError, SyntaxError, TypeError, tokenize.TokenError) as exc:
            raise Refused(N_("'{name}' is not a readable array: {reason}"), name=name, reason=exc) from None
        if dtype.kind not in NUMBERS or dtype.fields is not None or dtype.subdtype is not None:
            raise Refused(N_("'{name}' must hold numbers, not {dtype}"), name=name, dtype=dtype)
        if len(shape) != ndim:
            raise Refused(Message.ngettext("'{name}' must have {ndim} dimension, got shape {shape}",
                                           "'{name}' must have {ndim} dimensions, got shape {shape}", ndim,
                                           name=name, ndim=ndim, shape=shape))
        if shape[0] > MAX_EXAMPLES:
            raise Refused(N_("at most {limit:,} examples, got {count:,}"), limit=MAX_EXAMPLES, count=shape[0])
        count = int(np.prod(shape, dtype=np.int64))
        if count * dtype.itemsize > MAX_MEMBER_BYTES:  # (N, big, big): refused before it is read
            raise Refused(N_("'{name}' of shape {shape} is too large"), name=name, shape=shape)
        data = stream.read(count * dtype.itemsize)
    if len(data) != count * dtype.itemsize:
        raise Refused(N_("'{name}' is truncated"), name=name)
    return np.frombuffer(data, dtype).reshape(shape, order="F" if fortran else "C")


def check_examples(images, labels) -> tuple[np.ndarray, np.ndarray]:
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise Refused(N_("images must be (N, 28, 28), got {shape}"), shape=images.shape)
    if labels.shape != (len(images),):
        raise Refused(N_("labels must be ({count},), got {shape}"), count=len(images), shape=labels.shape)
    if len(images) > MAX_EXAMPLES:
        raise Refused(N_("at most {limit} examples, got {count}"), limit=MAX_EXAMPLES, count=len(images))
    # comparisons that NaN fails: "not (within range)", never "below or above"
    if images.dtype.kind not in NUMBERS or (images.dtype != np.uint8 and not (
            images.min(initial=0) >= 0 and images.max(initial=0) <= 255)):
        raise Refused(N_("pixel values must be 0-255"))
    if labels.dtype.kind not in NUMBERS or (len(labels) and not (
            labels.min() >= 0 and labels.max() <= 9
            and np.all(labels == np.round(labels)))):
        raise Refused(N_("labels must be digits 0-9"))
    return images.astype(np.uint8), labels.astype(np.int64)


def held_out_split(labels, per_digit: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, held-out indices): the last ``per_digit`` examples of each digit that has more
    than that many are held out, never trained on, to measure before and after fairly."""
    labels = np.asarray(labels)
    held = []
    for d in range(10):
        mine = np.nonzero(labels == d)[0]
        if len(mine) > per_digit:
            held.extend(mine[-per_digit:])
    held = np.array(sorted(held), dtype=np.int64)
    return np.setdiff1d(np.arange(len(labels)), held), held


def accuracy_on(model: nn.Module, images, labels) -> float | None:
    """Fraction of ``images`` the model reads as ``labels`` (None for none)."""
    if len(images) == 0:
        return None
    return float((predict(model, np.asarray(images)).argmax(1) == np.asarray(labels)).mean())


def fine_tune_config(base: TrainConfig, lr: float | None = None) -> TrainConfig:
    """The base run's model, width and optimizer, one epoch at a small constant rate: a twentieth of the
    base's (Adam) or half of it (SGD, whose rate is no adaptive step). MNIST is not augmented (the
    examples are: see :func:`fine_tune_start`)."""
    if lr is None:
        lr = base.lr / 20 if base.optimizer == "adam" else base.lr / 2
    return replace(base, lr=lr, schedule="constant", batch_size=256, epochs=1, augment=False,
                   weight_decay=0.0, validation_size=0, eval_every_epoch=True)


def fine_tune_start(model: nn.Module, images, labels, share: float = SHARE) -> StartFrom:
    """Start from ``model``'s weights, with the examples repeated to make up about ``share`` of an epoch."""
    images, labels = check_examples(images, labels)
    repeat = max(1, round(share * TRAIN_IMAGES / max(len(images), 1)))
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return StartFrom(state, torch.as_tensor(images), torch.as_tensor(labels), repeat)
