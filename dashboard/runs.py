"""A visitor's runs: each is a training job (see mnist_core.jobs) and what it gave."""

from __future__ import annotations

from dataclasses import dataclass

from mnist_core import EvalResult, TrainConfig
from mnist_core.jobs import Job
from torch import nn

CHANCE_COST = 2.302585  # ln(10): the cost of guessing each digit with probability 1/10
SHOWN_FIELDS = ("model", "optimizer", "lr", "batch_size", "epochs", "seed")


@dataclass(eq=False)
class Run:
    number: int
    job: Job

    @property
    def config(self) -> TrainConfig:
        return self.job.config

    @property
    def status(self) -> str:
        """queued | running | completed | stopped | diverged | failed"""
        return self.job.status

    @property
    def done(self) -> bool:
        return self.job.done

    @property
    def costs(self) -> list[float]:
        return [e.cost for e in self.job.snapshot().epochs]

    @property
    def accuracies(self) -> list[float | None]:
        return [e.test_accuracy for e in self.job.snapshot().epochs]

    @property
    def seconds(self) -> float:
        if self.job.result is not None:
            return self.job.result.train_seconds
        epochs = self.job.snapshot().epochs
        return epochs[-1].seconds if epochs else 0.0

    @property
    def device(self) -> str:
        return self.job.snapshot().device or self.config.device

    @property
    def worker(self) -> str:
        return self.job.snapshot().worker

    @property
    def model(self) -> nn.Module | None:
        return self.job.result.model() if self.job.result is not None else None

    @property
    def evaluation(self) -> EvalResult | None:
        return self.job.result.evaluation if self.job.result is not None else None

    @property
    def message(self) -> str | None:
        return self.job.result.message if self.job.result is not None else None

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
    costs = run.costs
    if run.status == "failed":
        return ("error", f"Run #{run.number} failed: {run.message}")
    if run.status == "diverged":
        return ("error", f"Training diverged: the cost became {costs[-1]} in epoch {len(costs)}. "
                         f"The learning rate {lr} is too large for {run.config.model} with "
                         f"{run.config.optimizer}; try one ten times smaller.")
    if run.status == "completed" and costs and costs[-1] > CHANCE_COST:
        return ("warning", f"The cost ended at {costs[-1]:.3g}, above {CHANCE_COST:.2f}, what guessing at "
                           f"random costs: the learning rate {lr} is probably too large.")
    return None
