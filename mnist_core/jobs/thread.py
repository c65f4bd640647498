"""The in-process backend: trainings in background threads of this process, at most ``slots`` at once, the
rest queued, so nothing a page does ends a training.

The queue is fair: each owner (a visitor, by an opaque key the page gives) has at most a few trainings queued
or running, and the next training to start is taken round-robin across owners (the owner whose last training
started longest ago, or never), so one visitor's many trainings never stand before another's one.
"""

from __future__ import annotations

import collections
import os
import threading
from typing import Callable

import torch

from ..budget import WorkLimits
from ..train import EpochReport, StartFrom, TrainConfig, resolve_device
from .job import STOPPED, DataSpec, Job, JobResult
from .worker import run_job, worker_name

SLOTS_ENV = "MNIST_TRAINING_SLOTS"
PER_OWNER_ENV = "MNIST_MAX_TRAININGS_PER_VISITOR"
# Three submissions at once per visitor: a run to watch, one to compare and one more; a sweep's four trainings
# are one submission (one press of its button), so a visitor with nothing else running can always sweep.
DEFAULT_PER_OWNER = 3


class TooManyTrainings(ValueError):
    """An owner already has as many trainings queued or running as the backend allows; the message says what
    to do."""


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


def default_per_owner() -> int:
    """``MNIST_MAX_TRAININGS_PER_VISITOR``, else :data:`DEFAULT_PER_OWNER`."""
    try:
        limit = int(os.environ.get(PER_OWNER_ENV, "0"))
    except ValueError:
        limit = 0
    return limit if limit > 0 else DEFAULT_PER_OWNER


class ThreadBackend:
    """Trainings in background threads of this process, at most ``slots`` at once, the rest in a fair queue.

    ``limits``: the most time and memory one training may be estimated to take (default: the host's,
    ``WorkLimits.from_env()``, read at each submit). ``per_owner``: the most submissions one owner may have
    queued or running (default: ``MNIST_MAX_TRAININGS_PER_VISITOR``, read at each submit).
    """

    name = "thread"

    def __init__(self, slots: int | None = None, limits: WorkLimits | None = None, per_owner: int | None = None):
        self.slots = slots or default_slots()
        self.limits = limits
        self.per_owner = per_owner
        self._cond = threading.Condition()
        self._queues: dict[str | None, collections.deque[Job]] = {}  # each owner's queued jobs, first come first
        self._served: dict[str | None, int] = {}  # when each owner with jobs not ended last had one started
        self._running: collections.Counter[str | None] = collections.Counter()  # to know when to forget that
        self._starts = 0
        self._owned: dict[str, list[tuple[Job, str]]] = {}            # each owner's jobs not ended, with their group
        self._workers: list[threading.Thread] = []

    def describe(self) -> str:
        return f"this server, {self.slots} training slot{'s' if self.slots > 1 else ''}"

    def submit(self, config: TrainConfig, data: DataSpec = DataSpec(), start: StartFrom | None = None,
               owner: str | None = None, group: str | None = None) -> Job:
        """Queue a training (a fine-tuning with ``start``); ValueError at once for settings that cannot train
        or are over the limits, :class:`TooManyTrainings` when ``owner`` has as many submissions queued or
        running as allowed.

        ``owner``: whose training it is (an opaque key: the page gives the visitor's workspace); None for the
        backend's own caller (Python, a benchmark), which is not limited and takes its turn as one owner.
        ``group``: trainings submitted together under one name (a sweep) count as one submission.
        """
        job = self._checked_job(config, data, start)
        job.on_stop(lambda: self._drop_if_queued(job))
        with self._cond:
            if owner is not None:
                self._admit(job, owner, group or job.id)
            self._queues.setdefault(owner, collections.deque()).append(job)
            self._renumber()
            if not self._workers:  # started on first use: importing the package starts no thread
                share_cores(self.slots)
                self._workers = [threading.Thread(target=self._work, name=f"mnist-training-{i + 1}", daemon=True)
                                 for i in range(self.slots)]
                for thread in self._workers:
                    thread.start()
            self._cond.notify()
        return job

    def _admit(self, job: Job, owner: str, group: str) -> None:
        """Count ``job`` as ``owner``'s, or refuse it (called holding the lock, before queuing)."""
        limit = self.per_owner or default_per_owner()
        self._forget_ended()
        submissions = {g for _, g in self._owned.get(owner, [])}
        if group not in submissions and len(submissions) >= limit:
            raise TooManyTrainings(f"You have {limit} training{'s' if limit > 1 else ''} queued or running; "
                                   "wait for one to end or stop one.")
        self._owned.setdefault(owner, []).append((job, group))

    def _forget_ended(self) -> None:
        """Drop ended jobs from the owners' counts (and their results from memory)."""
        self._owned = {owner: live for owner, jobs in self._owned.items()
                       if (live := [(j, g) for j, g in jobs if not j.done])}

    def queued(self) -> int:
        with self._cond:
            return sum(len(q) for q in self._queues.values())

    def close(self) -> None:
        with self._cond:
            waiting = [job for q in self._queues.values() for job in q]
        for job in waiting:
            job.stop()

    def _turns(self):
        """The owners whose queued jobs start next, in turn, if nothing ends meanwhile (a generator)."""
        waiting = {owner: len(queue) for owner, queue in self._queues.items()}  # first come, first in a tie
        served, starts = dict(self._served), self._starts
        while waiting:
            owner = min(waiting, key=lambda o: served.get(o, -1))  # never served: first of all
            yield owner
            served[owner], starts = starts, starts + 1
            waiting[owner] -= 1
            if not waiting[owner]:
                del waiting[owner]

    def _order(self) -> list[Job]:
        """The queued jobs in the order they will start if nothing ends meanwhile."""
        taken = collections.Counter()
        order = []
        for owner in self._turns():
            order.append(self._queues[owner][taken[owner]])
            taken[owner] += 1
        return order

    def _renumber(self) -> None:
        for i, job in enumerate(self._order()):
            job.set_queue_position(i)  # trainings queued ahead of it

    def _drop_if_queued(self, job: Job) -> None:
        with self._cond:
            for owner, queue in self._queues.items():
                if job in queue:
                    queue.remove(job)
                    if not queue:
                        del self._queues[owner]
                        if not self._running[owner]:
                            self._served.pop(owner, None)
                    self._renumber()
                    break
            else:
                return
        job.finish(JobResult(STOPPED, message="stopped before it started"))

    def _next(self) -> tuple[Job, str | None]:
        """The job whose turn it is, counted as running."""
        owner = next(self._turns())
        queue = self._queues[owner]
        job = queue.popleft()
        if not queue:
            del self._queues[owner]
        self._running[owner] += 1
        self._served[owner], self._starts = self._starts, self._starts + 1
        return job, owner

    def _ended(self, owner: str | None) -> None:
        """A job of ``owner`` has ended: its turn is forgotten once it has nothing queued or running."""
        self._running[owner] -= 1
        if not self._running[owner]:
            del self._running[owner]
            if owner not in self._queues:
                self._served.pop(owner, None)
        self._forget_ended()

    def _work(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queues)
                job, owner = self._next()
                self._renumber()
            try:
                self._run(job)
            finally:
                with self._cond:
                    self._ended(owner)

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
