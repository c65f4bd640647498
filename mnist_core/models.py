"""The model registry: every architecture by name, built from plain arguments.

Every model takes images as float (B, 1, 28, 28) in [0, 1] and returns logits
(B, 10). Each one carries its own input normalisation (``mean``/``std``
buffers) and remembers how it was built (``registry_name``,
``registry_args``), so a checkpoint can rebuild it alone.
"""

from __future__ import annotations

import inspect
import math
from typing import Callable

import torch
from torch import nn

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}
DESCRIPTIONS: dict[str, str] = {}
# name -> {argument: (low, high)}: what a model may be built with, checked before anything is allocated
LIMITS: dict[str, dict[str, tuple[float, float]]] = {}

# MNIST training-set pixel statistics on the [0, 1] scale.
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


def to_input(images_u8: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 28, 28) -> float (B, 1, 28, 28) in [0, 1], what every model takes."""
    # ``.float()`` returns its argument itself when it is already float: scale out of place
    return images_u8.unsqueeze(1).float() * (1.0 / 255.0)


def register(name: str, description: str, limits: dict[str, tuple[float, float]] | None = None):
    """Add a model constructor to the registry under ``name``; ``limits`` bounds its numeric arguments."""
    def wrap(fn):
        _REGISTRY[name] = fn
        DESCRIPTIONS[name] = description
        LIMITS[name] = dict(limits or {})
        return fn
    return wrap


def list_models() -> list[str]:
    return list(_REGISTRY)


def model_constructor(name: str) -> Callable[..., nn.Module]:
    return _REGISTRY[name]


def check_model_args(name: str, args: dict) -> None:
    """Raise ValueError unless ``build_model(name, **args)`` asks for a known model with arguments it
    takes, of the right type and within its limits; cheap, so a huge request is refused before building."""
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(_REGISTRY)}")
    params = inspect.signature(_REGISTRY[name]).parameters
    for key, value in args.items():
        if key not in params:
            raise ValueError(f"model {name!r} takes no argument {key!r}; it takes {', '.join(params) or 'none'}")
        default = params[key].default
        kind = int if isinstance(default, int) else float
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
            raise ValueError(f"model {name!r}: {key} must be {'an integer' if kind is int else 'a number'}, got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"model {name!r}: {key} must be a finite number, got {value!r}")
        low, high = LIMITS[name].get(key, (-math.inf, math.inf))
        if not low <= value <= high:
            raise ValueError(f"model {name!r}: {key} must be between {low:g} and {high:g}, got {value!r}")


def build_model(name: str, **kwargs) -> nn.Module:
    """Build a registered model; the result remembers ``name`` and ``kwargs``."""
    check_model_args(name, kwargs)
    model = _REGISTRY[name](**kwargs)
    model.registry_name = name
    model.registry_args = dict(kwargs)
    return model


class Normalize(nn.Module):
    """(x - mean) / std with the statistics stored in the model (a no-op for mean 0, std 1)."""

    def __init__(self, mean: float, std: float):
        super().__init__()
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))
        self.identity = float(mean) == 0.0 and float(std) == 1.0

    def forward(self, x):
        return x if self.identity else (x - self.mean) / self.std


# A normalisation's std divides the input: never 0 or negative.
_NORM_LIMITS = {"mean": (-1e3, 1e3), "std": (1e-6, 1e3)}


@register("linear", "Softmax regression, the tutorial's Linear(784, 10): ~90%", limits=_NORM_LIMITS)
def linear(mean: float = 0.0, std: float = 1.0) -> nn.Module:
    # The tutorial feeds pixels scaled to [0, 1] and nothing more: mean 0, std 1.
    return nn.Sequential(Normalize(mean, std), nn.Flatten(), nn.Linear(784, 10, bias=True))


# Widths: the largest is several times what any preset or the page uses, and still trains in
# minutes and a few hundred MB (mlp 8192: 6.5 M weights; cnn 256: 6.3 M, 1024 channels at 3x3).
@register("mlp", "One hidden layer of ReLU units (LeCun's 784-800-10): ~98%",
          limits={"width": (1, 8192), "dropout": (0.0, 0.99), **_NORM_LIMITS})
def mlp(width: int = 800, dropout: float = 0.0, mean: float = MNIST_MEAN, std: float = MNIST_STD) -> nn.Module:
    return nn.Sequential(
        Normalize(mean, std), nn.Flatten(),
        nn.Linear(784, width), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(width, 10),
    )


def _conv_block(c_in: int, c_out: int) -> list[nn.Module]:
    # Pool right after the convolution, so batch norm and ReLU work on a quarter of the values
    # (as fast CIFAR-10 training code does).
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.MaxPool2d(2),
            nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


@register("cnn", "Small convolutional network with batch norm: 99%+",
          limits={"width": (1, 256), "dropout": (0.0, 0.99), **_NORM_LIMITS})
def cnn(width: int = 16, dropout: float = 0.0, mean: float = MNIST_MEAN, std: float = MNIST_STD) -> nn.Module:
    w = width
    return nn.Sequential(
        Normalize(mean, std),
        *_conv_block(1, w),           # (B, w, 14, 14)
        *_conv_block(w, 2 * w),       # (B, 2w, 7, 7)
        *_conv_block(2 * w, 4 * w),   # (B, 4w, 3, 3)
        nn.Flatten(), nn.Dropout(dropout),
        nn.Linear(4 * w * 9, 10),
    )
