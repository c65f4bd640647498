"""A visitor's runs: each is a stored record (playground.store) and, while it trains here, its job (mnist_core.jobs).

A run's status is the job's while this server process trains it, else the
store's, except for an orphan (:func:`is_orphaned`): a run the store still
calls queued or running though nobody has written to it for STALE_SECONDS,
or whose recording process on this host is gone, was left by a server that
stopped, and is interrupted.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from gettext import NullTranslations

from playground.owner import is_gone
from playground.store import ELSEWHERE, ENDED, SHIPPED_MODEL, StoredRun
from mnist_core import EvalResult, TrainConfig
from mnist_core.advice import lr_advice
from mnist_core.i18n import ENGLISH, N_
from mnist_core.export import export_onnx
from mnist_core.summary import curves_csv as summary_csv
from mnist_core.jobs import Job
from torch import nn

SHOWN_FIELDS = ("model", "optimizer", "lr", "batch_size", "epochs", "seed")
SWEEP_LRS = [0.001, 0.01, 0.1, 1.0]  # a learning-rate sweep: the same settings at each of these
STALE_SECONDS = 60  # a run "running" with no news for this long was left by a server that stopped


@dataclass(eq=False)
class Run:
    """A run as the page shows it: its stored record, and its job while this server process trains it.

    A live job is read first (it is fresher: batch progress, stop requests); the stored record is what
    outlives the session, the process and the server (playground.store).
    """

    number: int
    job: Job | None = None
    stored: StoredRun | None = None
    load_model: Callable[[], nn.Module | None] | None = field(default=None, repr=False)
    load_blob: Callable[[], bytes | None] | None = field(default=None, repr=False)
    unsaved_ids: set[int] | frozenset = field(default=frozenset(), repr=False)  # the server's (playground.recorder)
    here: bool = False  # recorded by this server process
    tuned_from: int | None = None  # a fine-tune's source (playground.store.StoredRun.tuned_from); None: a training

    @property
    def id(self) -> int | None:
        """The run's id in the store (None when the store could not take it)."""
        return self.stored.id if self.stored is not None else None

    @property
    def key(self) -> str:
        """A name for caches: the same run, the same key, in every session."""
        return f"run-{self.id}" if self.id is not None else f"job-{self.job.id}"

    @property
    def config(self) -> TrainConfig:
        return self.job.config if self.job is not None else TrainConfig.from_dict(self.stored.config)

    @property
    def status(self) -> str:
        """queued | running | completed | stopped | diverged | failed | interrupted | unsaved (ended here, its
        result not taken by the store: only this server process holds its model)"""
        if self.job is not None and self.job.done and self.id in self.unsaved_ids:
            return "unsaved"
        return self.job.status if self.job is not None else self.stored.status

    @property
    def done(self) -> bool:
        return self.job.done if self.job is not None else self.stored.status in ENDED

    @property
    def costs(self) -> list[float]:
        if self.job is not None:
            return [e.cost for e in self.job.snapshot().epochs]
        return [e["cost"] for e in self.stored.epochs]

    @property
    def accuracies(self) -> list[float | None]:
        if self.job is not None:
            return [e.test_accuracy for e in self.job.snapshot().epochs]
        return [e["test_accuracy"] for e in self.stored.epochs]

    @property
    def seconds(self) -> float:
        if self.job is None:
            return self.stored.train_seconds or (self.stored.epochs[-1]["seconds"] if self.stored.epochs else 0.0)
        if self.job.result is not None:
            return self.job.result.train_seconds
        epochs = self.job.snapshot().epochs
        return epochs[-1].seconds if epochs else 0.0

    @property
    def device(self) -> str:
        if self.job is None:
            return self.stored.device or self.config.device
        return self.job.snapshot().device or self.config.device

    @property
    def worker(self) -> str:
        """Who trained it, in words for the page ("" when not known; marked for the catalog, the page translates
        it); the worker's own name (host, pid, thread) stays in the store and the log."""
        name = self.job.snapshot().worker if self.job is not None else self.stored.worker
        if not name:
            return ""
        if "Ray" in name:  # mnist_ray names its workers "…, Ray node …"
            return N_("a Ray worker")
        return N_("this server") if self.here else N_("another server")

    @property
    def model(self) -> nn.Module | None:
        if self.job is not None and self.job.result is not None:
            return self.job.result.model()
        if self.stored is not None and self.stored.has_checkpoint and self.load_model is not None:
            return self.load_model()
        return None

    @property
    def has_model(self) -> bool:
        """Whether the run ended with a model (without loading it)."""
        if self.job is not None:
            return self.job.result is not None and self.job.result.checkpoint is not None
        return self.stored.has_checkpoint

    @property
    def evaluation(self) -> EvalResult | None:
        if self.job is not None:
            return self.job.result.evaluation if self.job.result is not None else None
        return self.stored.evaluation

    @property
    def message(self) -> str | None:
        if self.job is not None:
            return self.job.result.message if self.job.result is not None else None
        return self.stored.message

    @property
    def accuracy(self) -> float | None:
        if self.evaluation is not None:
            return self.evaluation.accuracy
        done = [a for a in self.accuracies if a is not None]
        return done[-1] if done else None

    def settings(self) -> dict:
        return {k: getattr(self.config, k) for k in SHOWN_FIELDS}


def is_orphaned(stored: StoredRun, live: bool, now: datetime) -> bool:
    """Whether ``stored`` was left mid-training by a server that stopped: not trained by this server process
    (``live``), not ended, and either not written for STALE_SECONDS at ``now`` (its recorder heartbeats far more
    often) or recorded by a process of this host that is gone (killed: no need to wait)."""
    if live or stored.status in ENDED:
        return False
    stale = stored.updated is not None and (now - stored.updated).total_seconds() > STALE_SECONDS
    return stale or (stored.owner is not None and is_gone(stored.owner))


def fine_tune_of(run: Run, words: NullTranslations = ENGLISH) -> str | None:
    """What a fine-tune was made from, in words ("fine-tune of run #3 on your handwriting"); None for a training.
    Its settings (a small learning rate, one epoch) are the fine-tune's, never the learner's: this says it instead.
    ``words``: the language's catalog (gettext)."""
    _ = words.gettext
    if run.tuned_from is None:
        return None
    if run.tuned_from == ELSEWHERE:
        return _("fine-tune on handwriting")  # a copy: the source is its owner's run, the hand theirs
    if run.tuned_from == SHIPPED_MODEL:
        return _("fine-tune of the shipped model on your handwriting")
    return _("fine-tune of run #{number} on your handwriting").format(number=run.tuned_from)


def sweep_configs(config: TrainConfig) -> list[TrainConfig]:
    """The trainings of a learning-rate sweep from ``config``: its settings at each of SWEEP_LRS."""
    return [replace(config, lr=lr) for lr in SWEEP_LRS]


def sweeps(runs: list[Run]) -> dict[int, tuple[int, int]]:
    """Run number -> (first, last) run numbers of the sweep it belongs to. A sweep is what
    :func:`sweep_configs` submits: runs numbered in a row, at SWEEP_LRS in order, whose settings are alike but
    for the learning rate. Told from the runs themselves, so stored, shared and copied runs are grouped the
    same way."""
    found: dict[int, tuple[int, int]] = {}
    size, i = len(SWEEP_LRS), 0
    while i + size <= len(runs):
        group = runs[i:i + size]
        alike = {replace(r.config, lr=SWEEP_LRS[0]) for r in group}
        if ([r.config.lr for r in group] == SWEEP_LRS and len(alike) == 1
                and group[-1].number - group[0].number == size - 1):
            found.update({r.number: (group[0].number, group[-1].number) for r in group})
            i += size
        else:
            i += 1
    return found


def differing(runs: list[Run]) -> list[str]:
    """The settings that tell these runs apart (all shown fields when there is one run); a fine-tune's settings
    are left out, as its label says what it is instead."""
    runs = [r for r in runs if r.tuned_from is None]
    if len(runs) < 2:
        return ["lr", "optimizer", "epochs"]
    return [k for k in SHOWN_FIELDS if len({r.settings()[k] for r in runs}) > 1] or ["seed"]


def label(run: Run, keys: list[str], words: NullTranslations = ENGLISH) -> str:
    """``#N`` and the settings of ``keys`` (the code's names, in every language), or what the run fine-tuned."""
    if (what := fine_tune_of(run, words)) is not None:
        return f"#{run.number} {what}"
    parts = [f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in run.settings().items() if k in keys]
    return f"#{run.number} " + ", ".join(parts)


def advice(run: Run, words: NullTranslations = ENGLISH,
           core_words: NullTranslations = ENGLISH) -> tuple[str, str] | None:
    """(level, message) for a run that went wrong, in words a learner can act on (the learning rate's part is
    mnist_core.advice's, which the CLI says too, in mnist_core's catalog ``core_words``)."""
    if run.status == "failed":
        return ("error", words.gettext("Run #{number} failed: {problem}").format(number=run.number,
                                                                                   problem=run.message))
    return lr_advice(run.config, run.costs, run.status, core_words)


def curves_csv(run: Run) -> str:
    """The run's per-epoch numbers as CSV (accuracies as fractions; empty where not measured)."""
    return summary_csv(run.job.snapshot().epochs if run.job is not None else run.stored.epochs)


def checkpoint_bytes(run: Run) -> bytes | None:
    """The run's checkpoint file, as its training wrote it (loads with mnist_core.load_checkpoint)."""
    if run.job is not None and run.job.result is not None:
        return run.job.result.checkpoint
    return run.load_blob() if run.load_blob is not None else None


def onnx_bytes(run: Run) -> bytes:
    """The run's model as an ONNX file."""
    buffer = io.BytesIO()
    export_onnx(run.model, buffer)
    return buffer.getvalue()
