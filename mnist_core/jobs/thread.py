"""The in-process backend: trainings in background threads of this process, at most ``slots`` at once, the
rest in a fair queue (``fair.py``), so nothing a page does ends a training.
"""

from __future__ import annotations

import os
import threading
from typing import Callable

import torch

from ..budget import WorkLimits
from ..i18n import N_
from ..train import EpochReport, StartFrom, TrainConfig, resolve_device
from .fair import FairQueue
from .job import DataSpec, Job, JobResult
from .worker import run_job, worker_name

SLOTS_ENV = "MNIST_TRAINING_SLOTS"


def cores() -> int:
    """The CPU cores this process may run on (``taskset`` and containers can give it fewer than the machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def default_slots() -> int:
    """``MNIST_TRAINING_SLOTS``, else one per CPU core (each training then on one thread: see
    :func:`share_cores`)."""
    try:
        slots = int(os.environ.get(SLOTS_ENV, "0"))
    except ValueError:
        slots = 0
    return slots if slots > 0 else cores()


def share_cores(slots: int) -> None:
    """Give each of ``slots`` trainings at once its share of the cores as torch's intra-op threads.

    Two trainings of two threads each on two cores spin for cores the other holds: the tutorial's training
    took 2.2 CPU s pinned to a core and 16-22 s on two busy ones (benchmarks/README.md, section 15), and one
    thread per training ends 30 trainings soonest. torch's thread count is the process's
    (``torch.set_num_threads``), so it is only ever lowered here: a process that chose fewer keeps them.
    """
    threads = max(1, cores() // slots)
    if threads < torch.get_num_threads():
        torch.set_num_threads(threads)


class ThreadBackend:
    """Trainings in background threads of this process, at most ``slots`` at once, the rest in a fair queue.

    ``limits``: the most time and memory one training may be estimated to take (default: the host's,
    ``WorkLimits.from_env()``, read at each submit). ``per_owner``: the most submissions one owner may have
    queued or running (default: ``MNIST_MAX_TRAININGS_PER_VISITOR``, read at each submit; see ``fair.py``).
    """

    name = "thread"

    def __init__(self, slots: int | None = None, limits: WorkLimits | None = None, per_owner: int | None = None):
        self.slots = slots or default_slots()
        self.limits = limits
        self._cond = threading.Condition()
        self._queue = FairQueue(per_owner)
        self._workers: list[threading.Thread] = []

    @property
    def per_owner(self) -> int | None:
        return self._queue.per_owner

    def describe(self) -> str:
        return f"this server, {self.slots} training slot{'s' if self.slots > 1 else ''}"

    def submit(self, config: TrainConfig, data: DataSpec = DataSpec(), start: StartFrom | None = None,
               owner: str | None = None, group: str | None = None) -> Job:
        """Queue a training (a fine-tuning with ``start``); ValueError at once for settings that cannot train
        or are over the limits, :class:`~mnist_core.jobs.fair.TooManyTrainings` when ``owner`` has as many
        submissions queued or running as allowed.

        ``owner``: whose training it is (an opaque key: the page gives the visitor's workspace); None for the
        backend's own caller (Python, a benchmark), which is not limited and takes its turn as one owner.
        ``group``: trainings submitted together under one name (a sweep) count as one submission.
        """
        job = self._checked_job(config, data, start)
        job.on_stop(lambda: self._drop_if_queued(job))
        with self._cond:
            self._queue.put(job, owner, group)
            if not self._workers:  # started on first use: importing the package starts no thread
                share_cores(self.slots)
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
        with self._cond:
            waiting = self._queue.waiting()
        for job in waiting:
            job.stop()

    def _drop_if_queued(self, job: Job) -> None:
        with self._cond:
            if not self._queue.remove(job):
                return
        job.finish(JobResult.never_started())

    def _work(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: len(self._queue))
                job, owner = self._queue.take()
            try:
                self._run(job)
            finally:
                with self._cond:
                    self._queue.ended(owner)

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
                         loading_note=N_("loading the data (once per server)…"),
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
