"""A session's runs: what was trained, how it went, and its model."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from mnist_core import EvalResult, TrainConfig
from torch import nn

CHANCE_COST = 2.302585  # ln(10): the cost of guessing each digit with probability 1/10
SHOWN_FIELDS = ("model", "optimizer", "lr", "batch_size", "epochs", "seed")


@dataclass
class Run:
    number: int
    config: TrainConfig
    device: str
    status: str = "running"                      # running | completed | stopped | diverged | failed
    costs: list[float] = field(default_factory=list)
    accuracies: list[float | None] = field(default_factory=list)
    seconds: float = 0.0
    model: nn.Module | None = None
    evaluation: EvalResult | None = None
    finished: threading.Event = field(default_factory=threading.Event, repr=False)  # set when training ends

    @property
    def accuracy(self) -> float | None:
        if self.evaluation is not None:
            return self.evaluation.accuracy
        done = [a for a in self.accuracies if a is not None]
        return done[-1] if done else None

    def settings(self) -> dict:
        return {k: getattr(self.config, k) for k in SHOWN_FIELDS}


def differing(runs: list[Run]) -> list[str]:
    """The settings that tell these runs apart (all shown fields when there is one run)."""
    if len(runs) < 2:
        return ["lr", "optimizer", "epochs"]
    return [k for k in SHOWN_FIELDS if len({r.settings()[k] for r in runs}) > 1] or ["seed"]


def label(run: Run, keys: list[str]) -> str:
    parts = [f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in run.settings().items() if k in keys]
    return f"#{run.number} " + ", ".join(parts)


def advice(run: Run) -> tuple[str, str] | None:
    """(level, message) for a run that went wrong, in words a learner can act on."""
    lr = f"{run.config.lr:g}"
    if run.status == "diverged":
        return ("error", f"Training diverged: the cost became {run.costs[-1]} in epoch {len(run.costs)}. "
                         f"The learning rate {lr} is too large for {run.config.model} with "
                         f"{run.config.optimizer}; try one ten times smaller.")
    if run.status == "completed" and run.costs and run.costs[-1] > CHANCE_COST:
        return ("warning", f"The cost ended at {run.costs[-1]:.3g}, above {CHANCE_COST:.2f}, what guessing at "
                           f"random costs: the learning rate {lr} is probably too large.")
    return None
