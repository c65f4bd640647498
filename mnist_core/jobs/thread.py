"""The in-process backend: trainings in background threads of this process, at most ``slots`` at once, the
rest queued in order, so nothing a page does ends a training."""

from __future__ import annotations

import collections
import os
import threading
from typing import Callable

from ..budget import WorkLimits
from ..train import EpochReport, StartFrom, TrainConfig, resolve_device
from .job import STOPPED, DataSpec, Job, JobResult
from .worker import run_job, worker_name

SLOTS_ENV = "MNIST_TRAINING_SLOTS"


def default_slots() -> int:
    """``MNIST_TRAINING_SLOTS``, else half the CPU cores (each training already uses every core it gets)."""
    try:
        slots = int(os.environ.get(SLOTS_ENV, "0"))
    except ValueError:
        slots = 0
    return slots if slots > 0 else max(1, (os.cpu_count() or 2) // 2)


class ThreadBackend:
    """Trainings in background threads of this process, at most ``slots`` at once, the rest queued in order.

    ``limits``: the most time and memory one training may be estimated to take (default: the host's,
    ``WorkLimits.from_env()``, read at each submit).
    """

    name = "thread"

    def __init__(self, slots: int | None = None, limits: WorkLimits | None = None):
        self.slots = slots or default_slots()
        self.limits = limits
        self._cond = threading.Condition()
        self._queue: collections.deque[Job] = collections.deque()
        self._workers: list[threading.Thread] = []

    def describe(self) -> str:
        return f"this server, {self.slots} training slot{'s' if self.slots > 1 else ''}"

    def submit(self, config: TrainConfig, data: DataSpec = DataSpec(), start: StartFrom | None = None) -> Job:
        """Queue a training (a fine-tuning with ``start``); ValueError at once for settings that cannot train
        or are over the limits."""
        job = self._checked_job(config, data, start)
        job.on_stop(lambda: self._drop_if_queued(job))
        with self._cond:
            self._queue.append(job)
            self._renumber()
            if not self._workers:  # started on first use: importing the package starts no thread
                self._workers = [threading.Thread(target=self._work, name=f"mnist-training-{i + 1}", daemon=True)
                                 for i in range(self.slots)]
                for thread in self._workers:
                    thread.start()
            self._cond.notify()
        return job

    def queued(self) -> int:
        with self._cond:
            return len(self._queue)

    def close(self) -> None:
        for job in list(self._queue):
            job.stop()

    def _renumber(self) -> None:
        for i, job in enumerate(self._queue):
            job.set_queue_position(i)  # trainings queued ahead of it

    def _drop_if_queued(self, job: Job) -> None:
        with self._cond:
            if job in self._queue:
                self._queue.remove(job)
                self._renumber()
            else:
                return
        job.finish(JobResult(STOPPED, message="stopped before it started"))

    def _work(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queue)
                job = self._queue.popleft()
                self._renumber()
            self._run(job)

    def run_here(self, config: TrainConfig, data: DataSpec = DataSpec(),
                 on_epoch: Callable[[EpochReport], None] | None = None) -> Job:
        """Train in the calling thread, now, reporting each epoch as it ends (the CLI's way: nothing else runs
        in its process, and torch trains faster in the main thread than in a background one)."""
        job = self._checked_job(config, data)
        self._run(job, on_epoch)
        return job

    def _checked_job(self, config: TrainConfig, data: DataSpec, start: StartFrom | None = None) -> Job:
        """A job for settings that can train here; ValueError, with the reason, for any that cannot."""
        config.validate()
        resolve_device(config.device)
        (self.limits or WorkLimits.from_env()).check(config)
        return Job(config, data, start)

    def _run(self, job: Job, on_epoch: Callable[[EpochReport], None] | None = None) -> None:
        report = job if on_epoch is None else _AlsoEachEpoch(job, on_epoch)
        result = run_job(job.config, job.data, report, worker=f"{worker_name()}, {threading.current_thread().name}",
                         loading_note="loading the data (once per server)…",
                         should_stop=lambda: job.stop_requested, start=job.start)
        job.finish(result)


class _AlsoEachEpoch:
    """The job's driver's side, with each epoch also handed to ``on_epoch`` (the CLI prints it)."""

    def __init__(self, job: Job, on_epoch: Callable[[EpochReport], None]):
        self._job, self._on_epoch = job, on_epoch
        self.mark_running, self.set_note, self.set_progress = job.mark_running, job.set_note, job.set_progress

    def add_epoch(self, report: EpochReport) -> None:
        self._job.add_epoch(report)
        self._on_epoch(report)
