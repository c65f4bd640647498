"""Where a training runs: one interface (:class:`Backend`), and the backends behind it.

A backend takes a :class:`TrainConfig` and the data's location (never the
data), and hands back a :class:`Job`: a thread-safe handle that shows the
epochs as they come, batch progress, the queue position, and ends with a
:class:`JobResult` (the model as checkpoint bytes, the curves, the
evaluation, the device and the worker that trained it). ``stop()`` ends a
training within one batch; a stopped run keeps its model and evaluation.
Every backend refuses, with a ValueError, settings that cannot train and a
training over the host's limits (:class:`mnist_core.budget.WorkLimits`).

The page, the learning-rate sweep and the CLI all train through a backend.
:class:`ThreadBackend` (the default, ``thread.py``) runs trainings in
background threads of this process; the Ray backend (``ray/``) runs them on
a Ray cluster and is imported only when asked for (:func:`get_backend`), so
importing ``mnist_core`` never imports Ray. Both run the same worker body
(``worker.py``).
"""

from __future__ import annotations

import importlib
import os
from typing import Callable, Protocol

from ..train import EpochReport, StartFrom, TrainConfig
from .fair import TooManyTrainings
from .job import FINAL, DataSpec, Job, JobResult, JobSnapshot
from .thread import ThreadBackend, default_slots
from .worker import run_training, shared_data

BACKEND_ENV = "MNIST_BACKEND"


class Backend(Protocol):
    """What the page and the CLI need of a backend."""

    name: str

    def describe(self) -> str:
        """Where trainings run, in words."""

    def submit(self, config: TrainConfig, data: DataSpec = DataSpec(), start: StartFrom | None = None,
               owner: str | None = None, group: str | None = None) -> Job:
        """Queue a training; ValueError at once for settings that cannot train or are over the limits.
        ``owner`` (an opaque key: whose training) and ``group`` (trainings submitted together, a sweep) let a
        backend share its slots fairly (``fair.py``: :class:`TooManyTrainings`, round-robin turns)."""

    def queued(self) -> int:
        """Trainings submitted here that have not started."""

    def close(self) -> None:
        """Stop every training submitted here that has not ended."""


def get_backend(name: str | None = None, **options) -> Backend:
    """A backend by name: ``thread`` (default; ``MNIST_BACKEND`` when no name is given) or ``ray``.

    ``ray`` needs Ray (``pip install -r requirements-ray.txt``); it is imported now, not before.
    """
    name = name or os.environ.get(BACKEND_ENV, "thread")
    if name == "thread":
        return ThreadBackend(**options)
    if name == "ray":
        try:
            module = importlib.import_module(".ray", __name__)
        except ImportError as exc:
            raise ValueError(f"the ray backend needs Ray: pip install -r requirements-ray.txt ({exc})") from None
        return module.RayBackend(**options)
    raise ValueError(f"unknown backend {name!r}; choose thread or ray")


def train_through(backend: Backend, config: TrainConfig, data: DataSpec = DataSpec(),
                  on_epoch: Callable[[EpochReport], None] | None = None,
                  timeout: float | None = None) -> JobResult:
    """Submit, print-as-you-go through ``on_epoch``, and return the result (the CLI's way). The thread
    backend trains in the calling thread itself (``run_here``)."""
    if isinstance(backend, ThreadBackend):
        return backend.run_here(config, data, on_epoch).result
    job = backend.submit(config, data)
    try:
        for report in job.follow(timeout):
            if on_epoch is not None:
                on_epoch(report)
    except BaseException:
        job.stop()
        raise
    job.wait(timeout)
    return job.result


__all__ = ["BACKEND_ENV", "Backend", "DataSpec", "FINAL", "Job", "JobResult", "JobSnapshot", "ThreadBackend",
           "TooManyTrainings", "default_slots", "get_backend", "run_training", "shared_data", "train_through"]
