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
from dataclasses import replace

import numpy as np
import torch
from torch import nn

from .data import TRAIN_IMAGES
from .evaluate import predict
from .train import StartFrom, TrainConfig

SHARE = 0.1           # the examples' part of a fine-tuning epoch
MAX_EXAMPLES = 10_000


def save_examples(file: str | os.PathLike | io.IOBase, images, labels) -> None:
    images, labels = check_examples(images, labels)
    np.savez_compressed(file, images=images, labels=labels)


def to_bytes(images, labels) -> bytes:
    buffer = io.BytesIO()
    save_examples(buffer, images, labels)
    return buffer.getvalue()


def load_examples(file: str | os.PathLike | io.IOBase) -> tuple[np.ndarray, np.ndarray]:
    """Read and check a ``.npz`` of examples; ValueError saying what is wrong."""
    try:
        with np.load(file, allow_pickle=False) as archive:
            return check_examples(archive["images"], archive["labels"])
    except (OSError, KeyError, EOFError) as exc:
        raise ValueError(f"not a handwriting file (.npz with 'images' and 'labels'): {exc}") from None


def check_examples(images, labels) -> tuple[np.ndarray, np.ndarray]:
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"images must be (N, 28, 28), got {images.shape}")
    if labels.shape != (len(images),):
        raise ValueError(f"labels must be ({len(images)},), got {labels.shape}")
    if len(images) > MAX_EXAMPLES:
        raise ValueError(f"at most {MAX_EXAMPLES} examples, got {len(images)}")
    if images.dtype != np.uint8 and (images.min(initial=0) < 0 or images.max(initial=0) > 255):
        raise ValueError("pixel values must be 0-255")
    if len(labels) and (labels.min() < 0 or labels.max() > 9 or not np.all(labels == np.round(labels))):
        raise ValueError("labels must be digits 0-9")
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
