"""Accuracy, confusion matrix, the model's most confident mistakes, and prediction."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .models import to_input
from .preprocess import split_digits

EVAL_BATCH = 2000  # bounds activation memory for the CNNs


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.inference_mode()
def logits_of(model: nn.Module, images_u8: torch.Tensor, batch: int = EVAL_BATCH) -> torch.Tensor:
    """Logits (N, 10) for uint8 images (N, 28, 28), on the model's device.

    The model's mode is left alone, so one model can answer many threads at once: models that
    are loaded or trained here are already in eval mode (a model being trained is put in eval
    mode by the loop before it is scored).
    """
    device = _model_device(model)
    out = []
    for i in range(0, len(images_u8), batch):
        x = to_input(images_u8[i:i + batch].to(device))  # (B, 1, 28, 28)
        out.append(model(x))
    return torch.cat(out) if out else torch.empty(0, 10, device=device)


def accuracy(model: nn.Module, images_u8: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of ``images_u8`` classified as ``labels``."""
    pred = logits_of(model, images_u8).argmax(1)
    return (pred == labels.to(pred.device)).float().mean().item()


@dataclass
class EvalResult:
    accuracy: float                 # fraction correct
    loss: float                     # mean cross-entropy
    confusion: np.ndarray           # (10, 10) counts: row = true digit, column = predicted
    per_class_accuracy: np.ndarray  # (10,) recall of each true digit
    mistake_indices: np.ndarray     # test-set indices of the misclassified images,
    mistake_true: np.ndarray        #   most confident wrong answers first
    mistake_pred: np.ndarray
    mistake_confidence: np.ndarray  # the probability the model gave its wrong answer

    def mistakes(self, true_digit: int | None = None, pred_digit: int | None = None,
                 limit: int | None = None) -> "Mistakes":
        """The mistakes of one true and/or predicted digit (None: any), most confident first, at most ``limit``."""
        keep = np.ones(len(self.mistake_indices), bool)
        if true_digit is not None:
            keep &= self.mistake_true == true_digit
        if pred_digit is not None:
            keep &= self.mistake_pred == pred_digit
        chosen = np.flatnonzero(keep)[:limit]
        return Mistakes(self.mistake_indices[chosen], self.mistake_true[chosen], self.mistake_pred[chosen],
                        self.mistake_confidence[chosen])


@dataclass
class Mistakes:
    """Some misclassified test images: parallel arrays, most confident wrong answers first."""

    indices: np.ndarray     # test-set indices
    true: np.ndarray
    pred: np.ndarray
    confidence: np.ndarray

    def __len__(self) -> int:
        return len(self.indices)


def evaluate(model: nn.Module, data) -> EvalResult:
    """Evaluate on ``data``'s test set (an :class:`MnistData`)."""
    logits = logits_of(model, data.test_images)
    labels = data.test_labels.to(logits.device)
    loss = F.cross_entropy(logits, labels).item()
    prob = logits.softmax(1)
    conf, pred = prob.max(1)
    confusion = torch.bincount(labels * 10 + pred, minlength=100).reshape(10, 10)
    wrong = (pred != labels).nonzero().squeeze(1)
    wrong = wrong[conf[wrong].argsort(descending=True)]
    confusion = confusion.cpu().numpy()
    totals = confusion.sum(1)
    return EvalResult(
        accuracy=float(np.trace(confusion) / max(confusion.sum(), 1)),
        loss=loss,
        confusion=confusion,
        per_class_accuracy=np.diag(confusion) / np.maximum(totals, 1),
        mistake_indices=wrong.cpu().numpy(),
        mistake_true=labels[wrong].cpu().numpy(),
        mistake_pred=pred[wrong].cpu().numpy(),
        mistake_confidence=conf[wrong].cpu().numpy(),
    )


def predict(model: nn.Module, image28) -> np.ndarray:
    """Probabilities of the ten classes for one 28x28 uint8 image (or (N, 10) for N images)."""
    array = np.asarray(image28, dtype=np.uint8)
    if not array.flags.writeable:  # torch warns on read-only memory; a copy of one image is cheap
        array = array.copy()
    x = torch.as_tensor(array)
    single = x.dim() == 2
    if single:
        x = x.unsqueeze(0)
    if x.shape[-2:] != (28, 28):
        raise ValueError(f"predict takes 28x28 images (see to_mnist), got shape {tuple(x.shape)}")
    prob = logits_of(model, x).softmax(1).cpu().numpy()
    return prob[0] if single else prob


def read_number(model: nn.Module, image) -> tuple[str, list[np.ndarray], np.ndarray]:
    """A written number read left to right: ``(number, digits, probabilities)``.

    ``image`` is a photo or drawing (a PIL image or an array, see :func:`~mnist_core.preprocess.split_digits`);
    ``digits`` are the 28x28 images the model saw and ``probabilities`` is (len(digits), 10).
    No ink at all reads as ``("", [], an empty (0, 10) array)``.
    """
    digits = split_digits(image)
    number, probs = read_digits(model, digits)
    return number, digits, probs


def read_digits(model: nn.Module, digits) -> tuple[str, np.ndarray]:
    """The number that 28x28 digit images, left to right, spell, and their probabilities (D, 10)."""
    if not len(digits):
        return "", np.empty((0, 10), np.float32)
    probs = predict(model, np.stack(digits))
    return "".join(str(int(d)) for d in probs.argmax(1)), probs
