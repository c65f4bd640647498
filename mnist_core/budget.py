"""How long a training will take and how much memory it will add, known before it starts, and limits on both.

:func:`estimate_work` is an estimate for a 2-core CPU like the one the project's benchmarks run on
(a GPU is much faster: there it is an upper bound), from costs per training image measured by
``benchmarks/bench_work_estimate.py`` (``benchmarks/README.md`` §11): per model, a fixed cost plus
terms in the width (the CNN's convolutions grow with its square) and a per-batch overhead shared by
the batch's images; augmentation adds a fixed cost per image; evaluating the test set costs a
forward pass per image. Memory is what the training adds to a process that has the data loaded:
weights, gradients and the optimizer's two moments (16 bytes a parameter) and the batch's
activations (growing with the batch size times the width). The machine was loaded while the costs
were measured, so one factor per model sets the times' level from the presets' full trainings
measured on a quiet machine (the CNN's two presets: within 9% of their measured times); memory is
within 26% of every measured setting. Each model's measured costs are in its registration
(:class:`mnist_core.models.WorkCost`).

A model registered without costs is not refused for want of them: it is estimated as
:data:`UNMEASURED_MARGIN` times the costliest measured model at its default width (the time
scaled further by how many more parameters this width gives it than its default does), its own
parameters' memory counted exactly. A guess on the safe side, so the host's limits still hold until
the benchmark has measured it.

:class:`WorkLimits` refuses a training whose estimate is over a limit, with a message that says
what to change; ``WorkLimits.from_env()`` reads the limits a host sets.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from typing import Mapping

import torch

from .data import TEST_IMAGES, TRAIN_IMAGES
from .i18n import N_, Message, Refused, Translatable
from .models import COST_TERMS, WorkCost, build_model, list_models, model_spec
from .train import TrainConfig

SECONDS_ENV = "MNIST_MAX_TRAIN_SECONDS"
MEMORY_ENV = "MNIST_MAX_TRAIN_MEMORY_MB"
# Defaults: every preset fits (cnn-best, the largest, is estimated at 13 min and 0.4 GB), while an
# hours-long or multi-gigabyte training from a shared link does not.
DEFAULT_MAX_SECONDS = 20 * 60
DEFAULT_MAX_MEMORY_MB = 2048

# Fitted by benchmarks/bench_work_estimate.py with the models' costs (results/work_estimate.json).
AUGMENT_S_PER_IMAGE = 6.363e-06
# An unmeasured model: this many times the costliest measured one (see the module's docstring).
UNMEASURED_MARGIN = 2.0


@dataclass(frozen=True)
class WorkEstimate:
    seconds: float      # training and its evaluations, on a 2-core CPU
    peak_bytes: int     # memory the training adds to a process that holds the data

    def describe(self) -> str:
        time = "under a second" if self.seconds < 0.5 else f"about {format_duration(self.seconds)}"  # not "about 0 s"
        return f"{time} and {self.peak_bytes / 2**20:,.0f} MB"


class WorkLimitError(Translatable, ValueError):
    """A training asks for more time or memory than the host allows; the message says what to change."""


def term_values(terms, model: str, width: int, batch_size: int) -> list[float]:
    """The value of each of ``terms`` (names of :data:`COST_TERMS`) for ``model`` at ``width`` (0: its
    default) trained in batches of ``batch_size``: what the fitted coefficients multiply."""
    w = width or model_spec(model).default_width or 0
    return [COST_TERMS[term](w, batch_size) for term in terms]


def _total(coefficients: Mapping[str, float], model: str, width: int, batch_size: int) -> float:
    return sum(c * v for c, v in zip(coefficients.values(), term_values(coefficients, model, width, batch_size)))


def parameter_count(config: TrainConfig) -> int:
    """The model's parameters, counted on the meta device: nothing is allocated."""
    with torch.device("meta"):
        model = build_model(config.model, **config.model_args())
    return sum(p.numel() for p in model.parameters())


def estimate_work(config: TrainConfig, cost: WorkCost | None = None,
                  augment_s_per_image: float = AUGMENT_S_PER_IMAGE) -> WorkEstimate:
    """Seconds and peak extra memory of training ``config`` on a 2-core CPU (a GPU is faster), from
    ``cost`` (default: the model's registered :class:`WorkCost`; without one, the conservative guess of
    the module's docstring).

    Raises ValueError for a config that :meth:`TrainConfig.validate` refuses.
    """
    config.validate()
    cost = cost or model_spec(config.model).cost
    if cost is None:
        return _unmeasured_estimate(config, augment_s_per_image)
    model, width, batch = config.model, config.width, config.batch_size
    per_image = _total(cost.train, model, width, batch)
    if config.augment:
        per_image += augment_s_per_image
    eval_per_image = _total(cost.eval, model, width, batch)
    train_images = TRAIN_IMAGES - config.validation_size
    evaluations = config.epochs if config.eval_every_epoch else 1
    seconds = (config.epochs * train_images * per_image
               + evaluations * (TEST_IMAGES + config.validation_size) * eval_per_image)
    memory = 16 * parameter_count(config) + _total(cost.memory, model, width, batch)
    return WorkEstimate(seconds, int(memory))


def _unmeasured_estimate(config: TrainConfig, augment_s_per_image: float) -> WorkEstimate:
    measured = [estimate_work(replace(config, model=name, width=0), augment_s_per_image=augment_s_per_image)
                for name in list_models() if model_spec(name).cost is not None]
    growth = max(1.0, parameter_count(config) / parameter_count(replace(config, width=0)))
    seconds = UNMEASURED_MARGIN * growth * max(e.seconds for e in measured)
    memory = 16 * parameter_count(config) + UNMEASURED_MARGIN * max(e.peak_bytes for e in measured)
    return WorkEstimate(seconds, int(memory))


def format_duration(seconds: float) -> Message:
    """Seconds, minutes or hours; ``str()`` gives the English ("12 min")."""
    if seconds < 90:
        return Message(N_("{seconds:.0f} s"), {"seconds": seconds})
    minutes = seconds / 60
    if minutes < 90:
        return Message(N_("{minutes:.0f} min"), {"minutes": minutes})
    return Message(N_("{hours} h {minutes:02.0f} min"), {"hours": int(minutes // 60), "minutes": minutes % 60})


@dataclass(frozen=True)
class WorkLimits:
    """Most seconds and MB (None: no limit) a training may be estimated to take."""

    max_seconds: float | None = DEFAULT_MAX_SECONDS
    max_memory_mb: float | None = DEFAULT_MAX_MEMORY_MB

    @classmethod
    def from_env(cls) -> "WorkLimits":
        """``MNIST_MAX_TRAIN_SECONDS`` and ``MNIST_MAX_TRAIN_MEMORY_MB``: unset or empty for the default,
        0 for no limit. ValueError, naming the variable, for anything but a number >= 0."""
        return cls(_limit_from_env(SECONDS_ENV, DEFAULT_MAX_SECONDS),
                   _limit_from_env(MEMORY_ENV, DEFAULT_MAX_MEMORY_MB))

    def check(self, config: TrainConfig) -> WorkEstimate:
        """The estimate, or WorkLimitError saying the estimate, the limit and what to change."""
        estimate = estimate_work(config)
        if self.max_seconds is not None and estimate.seconds > self.max_seconds:
            fit_epochs = math.floor(config.epochs * self.max_seconds / estimate.seconds)
            changes = [Message.ngettext("at most {count} epoch", "at most {count} epochs", fit_epochs,
                                        count=fit_epochs) if fit_epochs >= 1 else Message(N_("a single epoch"))]
            if config.width:
                changes.append(Message(N_("a smaller width (now {width})"), {"width": config.width}))
            if config.batch_size < 256:
                changes.append(Message(N_("a larger batch size (now {batch_size})"),
                                       {"batch_size": config.batch_size}))
            if config.augment:
                changes.append(Message(N_("no augmentation")))
            raise WorkLimitError(N_("this training would take {duration} (an estimate), over the limit of {limit}. "
                                    "Choose {changes}."), duration=format_duration(estimate.seconds),
                                 limit=format_duration(self.max_seconds), changes=_either(changes))
        if self.max_memory_mb is not None and estimate.peak_bytes > self.max_memory_mb * 2**20:
            changes = [Message(N_("a smaller batch size (now {batch_size})"), {"batch_size": config.batch_size})]
            if config.width:
                changes.append(Message(N_("a smaller width (now {width})"), {"width": config.width}))
            raise WorkLimitError(N_("this training would take about {megabytes:,.0f} MB of memory (an estimate), over "
                                    "the limit of {limit:,.0f} MB. Choose {changes}."),
                                 megabytes=estimate.peak_bytes / 2**20, limit=self.max_memory_mb,
                                 changes=_either(changes))
        return estimate


def _either(changes: list[Message]) -> Message:
    """"a, b or c", each change said in the reader's language."""
    if len(changes) == 1:
        return changes[0]
    listed = changes[0]
    for change in changes[1:-1]:
        listed = Message(N_("{list}, {item}"), {"list": listed, "item": change})
    return Message(N_("{list} or {item}"), {"list": listed, "item": changes[-1]})


def _limit_from_env(name: str, default: float) -> float | None:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (math.isfinite(value) and value >= 0):
        raise Refused(N_("{name} must be a number >= 0 (0: no limit), got {text!r}"), name=name, text=text)
    return value or None
