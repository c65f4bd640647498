"""The model registry: the one place a model is described, and built from plain arguments.

Every model takes images as float (B, 1, 28, 28) in [0, 1] and returns logits
(B, 10). Each one carries its own input normalisation (``mean``/``std``
buffers) and remembers how it was built (``registry_name``,
``registry_args``), so a checkpoint can rebuild it alone.

A model is added here and nowhere else: ``@register`` gives it a
:class:`ModelSpec` (its description, the limits of its arguments, the widths
the page offers, the preset it brings, its measured cost per image), which the
training configuration, the page's settings, the CLI and the work estimate read.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Mapping

import torch
from torch import nn

from .i18n import N_, Refused

# MNIST training-set pixel statistics on the [0, 1] scale.
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081

# What each coefficient of a WorkCost multiplies, for a model of width w trained in batches of b.
COST_TERMS: dict[str, Callable[[int, int], float]] = {
    "base": lambda w, b: 1.0,               # the same for every width and batch size
    "width": lambda w, b: float(w),
    "width_squared": lambda w, b: float(w * w),  # a convolution's channels in times out
    "per_batch": lambda w, b: 1.0 / b,       # a per-batch overhead, shared by the batch's images
    "batch": lambda w, b: float(b),          # memory: the batch's activations...
    "batch_width": lambda w, b: float(b * w),  # ...growing with the width
}


@dataclass(frozen=True)
class WorkCost:
    """A model's measured cost, fitted by ``benchmarks/bench_work_estimate.py``: coefficients of the
    :data:`COST_TERMS` for the seconds to train on one image, the seconds to evaluate one, and the
    memory in bytes that training adds besides its parameters (see :mod:`mnist_core.budget`)."""

    train: Mapping[str, float]
    eval: Mapping[str, float]
    memory: Mapping[str, float]

    def __post_init__(self):
        for part in ("train", "eval", "memory"):
            unknown = set(getattr(self, part)) - set(COST_TERMS)
            if unknown:
                raise ValueError(f"unknown cost terms {sorted(unknown)} in {part}; use {', '.join(COST_TERMS)}")
            object.__setattr__(self, part, MappingProxyType(dict(getattr(self, part))))


@dataclass(frozen=True)
class ModelSpec:
    """Everything the project knows about one registered model."""

    name: str
    build: Callable[..., nn.Module]          # plain arguments in, the model out
    description: str  # marked with N_ where registered: the page says it in its visitor's language
    # argument -> (low, high): what it may be built with, checked before anything is allocated
    limits: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    widths: tuple[int, ...] = ()             # the widths offered besides the default (the page's choices)
    preset: str | None = None                # the preset it brings when chosen alone; None: the tutorial's
    cost: WorkCost | None = None             # None: the work estimate's conservative guess

    @property
    def default_width(self) -> int | None:
        """The constructor's default ``width``; None for a model without one."""
        param = inspect.signature(self.build).parameters.get("width")
        return None if param is None else param.default


_SPECS: dict[str, ModelSpec] = {}


def to_input(images_u8: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 28, 28) -> float (B, 1, 28, 28) in [0, 1], what every model takes."""
    # a copy scaled in place: one float tensor allocated instead of two (a quarter of the tutorial's training
    # was this line, benchmarks/README.md section 15), and a float argument is never changed
    return images_u8.unsqueeze(1).to(torch.float32, copy=True).mul_(1.0 / 255.0)


def register(name: str, description: str, limits: dict[str, tuple[float, float]] | None = None, *,
             widths: tuple[int, ...] | list[int] = (), preset: str | None = None, cost: WorkCost | None = None):
    """Add a model constructor to the registry under ``name``, with its :class:`ModelSpec`: ``limits``
    bounds its numeric arguments, ``widths`` are the widths to offer (each checked against the limits),
    ``preset`` names the preset it brings, ``cost`` is its measured :class:`WorkCost`."""
    def wrap(fn):
        spec = ModelSpec(name, fn, description, MappingProxyType(dict(limits or {})), tuple(widths), preset, cost)
        if spec.widths and spec.default_width is None:
            raise ValueError(f"model {name!r} offers widths but its constructor takes no width")
        for width in spec.widths:
            _check_args(spec, {"width": width})
        _SPECS[name] = spec
        return fn
    return wrap


def list_models() -> list[str]:
    return list(_SPECS)


def model_spec(name: str) -> ModelSpec:
    """The registered model ``name``; ValueError naming the choices for any other name."""
    if not isinstance(name, str) or name not in _SPECS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(_SPECS)}")
    return _SPECS[name]


def check_model_args(name: str, args: dict) -> None:
    """Raise ValueError unless ``build_model(name, **args)`` asks for a known model with arguments it
    takes, of the right type and within its limits; cheap, so a huge request is refused before building."""
    _check_args(model_spec(name), args)


def _check_args(spec: ModelSpec, args: dict) -> None:
    name = spec.name
    params = inspect.signature(spec.build).parameters
    for key, value in args.items():
        if key not in params:
            raise ValueError(f"model {name!r} takes no argument {key!r}; it takes {', '.join(params) or 'none'}")
        default = params[key].default
        kind = int if isinstance(default, int) else float
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
            raise Refused(N_("model {model!r}: {key} must be an integer, got {value!r}") if kind is int else
                          N_("model {model!r}: {key} must be a number, got {value!r}"), model=name, key=key, value=value)
        if not math.isfinite(value):
            raise Refused(N_("model {model!r}: {key} must be a finite number, got {value!r}"), model=name, key=key,
                          value=value)
        low, high = spec.limits.get(key, (-math.inf, math.inf))
        if not low <= value <= high:
            raise Refused(N_("model {model!r}: {key} must be between {low:g} and {high:g}, got {value!r}"), model=name,
                          key=key, low=low, high=high, value=value)


def build_model(name: str, **kwargs) -> nn.Module:
    """Build a registered model; the result remembers ``name`` and ``kwargs``."""
    check_model_args(name, kwargs)
    model = _SPECS[name].build(**kwargs)
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


# Costs: fitted by benchmarks/bench_work_estimate.py (results/work_estimate.json, "coefficients", times
# already multiplied by its per-model "time_factors").
@register("linear", N_("Softmax regression, the tutorial's Linear(784, 10): ~90%"), limits=_NORM_LIMITS,
          preset="tutorial",
          cost=WorkCost(train={"base": 1.662e-06, "per_batch": 0.0004245},
                        eval={"base": 8.468e-07, "per_batch": 1.277e-05},
                        memory={"base": 3.294e+07, "batch": 4048}))
def linear(mean: float = 0.0, std: float = 1.0) -> nn.Module:
    # The tutorial feeds pixels scaled to [0, 1] and nothing more: mean 0, std 1.
    return nn.Sequential(Normalize(mean, std), nn.Flatten(), nn.Linear(784, 10, bias=True))


# Widths: the largest is several times what any preset or the page uses, and still trains in
# minutes and a few hundred MB (mlp 8192: 6.5 M weights; cnn 256: 6.3 M, 1024 channels at 3x3).
@register("mlp", N_("One hidden layer of ReLU units (LeCun's 784-800-10): ~98%"),
          limits={"width": (1, 8192), "dropout": (0.0, 0.99), **_NORM_LIMITS},
          widths=(128, 256, 800, 1024), preset="mlp",
          cost=WorkCost(train={"base": 2.132e-06, "width": 2.696e-08, "per_batch": 0.002814},
                        eval={"base": 1.954e-06, "width": 9.527e-09, "per_batch": 0},
                        memory={"base": 4.079e+07, "width": 3.542e+04, "batch": 2.137e+04, "batch_width": 0}))
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


@register("cnn", N_("Small convolutional network with batch norm: 99%+"),
          limits={"width": (1, 256), "dropout": (0.0, 0.99), **_NORM_LIMITS},
          widths=(8, 16, 32, 64), preset="cnn-fast",
          cost=WorkCost(train={"base": 0, "width": 4.419e-06, "width_squared": 1.147e-07, "per_batch": 0.008803},
                        eval={"base": 1.957e-05, "width": 1.586e-08, "width_squared": 6.226e-08,
                              "per_batch": 6.435e-06},
                        memory={"base": 9.227e+07, "width": 8.933e+06, "batch": 3.811e+04, "batch_width": 8808}))
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
