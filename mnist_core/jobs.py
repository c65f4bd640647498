"""Where a training runs: one interface, and the in-process backend (background threads).

A backend takes a :class:`TrainConfig` and the data's location (never the
data), and hands back a :class:`Job`: a thread-safe handle that shows the
epochs as they come, batch progress, the queue position, and ends with a
:class:`JobResult` (the model as checkpoint bytes, the curves, the
evaluation, the device and the worker that trained it). ``stop()`` ends a
training within one batch; a stopped run keeps its model and evaluation.

The page, the learning-rate sweep and the CLI all train through a backend.
:class:`ThreadBackend` (the default) runs at most ``slots`` trainings at once
in background threads of this process, so nothing a page does ends a
training. Other backends (``ray``) live outside this package and are found
by name (:func:`get_backend`); ``mnist_core`` itself never imports them.
"""

from __future__ import annotations

import collections
import importlib
import io
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Iterator

from torch import nn

from .checkpoint import load_checkpoint, save_checkpoint
from .data import DataError, MnistData, load_mnist, resolve_root
from .evaluate import EvalResult, evaluate
from .train import EpochReport, StartFrom, TrainConfig, resolve_device, train

log = logging.getLogger(__name__)

FINAL = ("completed", "stopped", "diverged", "failed")
SLOTS_ENV = "MNIST_TRAINING_SLOTS"
BACKEND_ENV = "MNIST_BACKEND"


@dataclass(frozen=True)
class DataSpec:
    """Where a worker finds the data: ``root`` as :func:`load_mnist` takes it (None: its default)."""

    root: str | None = None
    dataset: str = "mnist"


@dataclass
class JobResult:
    status: str                      # completed | stopped | diverged | failed
    epoch_costs: list[float] = field(default_factory=list)
    test_accuracies: list[float | None] = field(default_factory=list)
    train_seconds: float = 0.0
    device: str = ""
    worker: str = ""
    checkpoint: bytes | None = None  # a .pt file (save_checkpoint); None when no epoch was trained
    evaluation: EvalResult | None = None
    message: str | None = None       # why it failed, in words for the user
    _model: nn.Module | None = field(default=None, repr=False, compare=False)

    def model(self) -> nn.Module | None:
        """The trained model on the CPU, rebuilt from the checkpoint once (kept as is when trained here)."""
        if self._model is None and self.checkpoint is not None:
            self._model = load_checkpoint(io.BytesIO(self.checkpoint))[0]
        return self._model

    def __getstate__(self):  # the model travels as checkpoint bytes, never pickled
        return {**self.__dict__, "_model": None}


@dataclass(frozen=True)
class JobSnapshot:
    """One consistent look at a job, for drawing."""

    status: str                      # queued | running | completed | stopped | diverged | failed
    epochs: tuple[EpochReport, ...]
    batches_done: int
    batches_total: int
    queue_position: int | None       # trainings ahead of this one, while queued
    note: str                        # what it is doing now, in words ("loading MNIST…")
    device: str
    worker: str
    stop_requested: bool


class Job:
    """A training handed to a backend. Readers call :meth:`snapshot`, :meth:`follow` or :meth:`wait`;
    the backend's driver calls the ``_`` methods."""

    def __init__(self, config: TrainConfig, data: DataSpec = DataSpec(), start: StartFrom | None = None):
        self.id = uuid.uuid4().hex
        self.config = config
        self.data = data
        self.start = start
        self.submitted = time.time()
        self._cond = threading.Condition()
        self._status = "queued"
        self._epochs: list[EpochReport] = []
        self._batches = (0, 0)
        self._queue_position: int | None = None
        self._note = "queued"
        self._device = ""
        self._worker = ""
        self._stop = threading.Event()
        self._on_stop: list[Callable[[], None]] = []
        self._result: JobResult | None = None

    # ---------------------------------------------------------------- reading
    def snapshot(self) -> JobSnapshot:
        with self._cond:
            return JobSnapshot(self._status, tuple(self._epochs), *self._batches, self._queue_position,
                               self._note, self._device, self._worker, self._stop.is_set())

    @property
    def status(self) -> str:
        return self._status

    @property
    def done(self) -> bool:
        return self._result is not None

    @property
    def result(self) -> JobResult | None:
        return self._result

    def wait(self, timeout: float | None = None) -> bool:
        """Until the job has ended (True) or ``timeout`` seconds passed (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._result is not None, timeout)

    def follow(self, timeout: float | None = None) -> Iterator[EpochReport]:
        """Each epoch's report as it arrives, until the job ends; TimeoutError past ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        seen = 0
        while True:
            with self._cond:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                ok = self._cond.wait_for(lambda: len(self._epochs) > seen or self._result is not None, left)
                new, ended = self._epochs[seen:], self._result is not None
            if not ok:
                raise TimeoutError(f"no news from the training for {timeout} s")
            yield from new
            seen += len(new)
            if ended and not new:
                return

    def stop(self) -> None:
        """Ask the training to end after the batch in flight (a queued one never starts)."""
        self._stop.set()
        for hook in list(self._on_stop):
            hook()
        with self._cond:
            self._cond.notify_all()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    # ---------------------------------------------------------------- the driver's side
    def _update(self, **changes) -> None:
        with self._cond:
            for name, value in changes.items():
                setattr(self, "_" + name, value)
            self._cond.notify_all()

    def _add_epoch(self, report: EpochReport) -> None:
        with self._cond:
            self._epochs.append(report)
            self._cond.notify_all()

    def _finish(self, result: JobResult) -> None:
        with self._cond:
            if self._result is not None:  # the first result stands (a backend may hear of a lost worker twice)
                return
            if result.epoch_costs and len(result.epoch_costs) > len(self._epochs):
                # a driver that did not stream every epoch: take them from the result
                self._epochs = [EpochReport(i + 1, c, a, None, result.train_seconds, self.config.epochs)
                                for i, (c, a) in enumerate(zip(result.epoch_costs, result.test_accuracies))]
            self._status, self._result = result.status, result
            self._queue_position, self._note = None, result.status
            self._device = result.device or self._device
            self._worker = result.worker or self._worker
            self._cond.notify_all()


def worker_name() -> str:
    return f"{socket.gethostname()} (pid {os.getpid()})"


def run_training(config: TrainConfig, data: MnistData, *, should_stop: Callable[[], bool] = lambda: False,
                 on_epoch: Callable[[EpochReport], None] | None = None,
                 on_batch: Callable[[int, int], None] | None = None, worker: str = "",
                 start: StartFrom | None = None) -> JobResult:
    """Train, evaluate and pack the result: what every backend's worker runs.

    Never raises for a training that cannot run: the result is ``failed`` with a message.
    """
    worker = worker or worker_name()
    try:
        result = train(config, data, on_epoch=on_epoch, on_batch=on_batch, should_stop=should_stop, start=start)
        out = JobResult(result.status, list(result.epoch_costs), list(result.test_accuracies),
                        result.train_seconds, result.device, worker)
        if not result.epoch_costs:  # stopped before the first batch: nothing worth keeping
            return out
        if result.status != "diverged" and config.evaluate_test:
            out.evaluation = evaluate(result.model, data)
        buffer = io.BytesIO()
        metrics = {"test_accuracy": out.evaluation.accuracy if out.evaluation else None,
                   "train_seconds": result.train_seconds, "status": result.status}
        save_checkpoint(buffer, result.model, config, metrics)
        out.checkpoint = buffer.getvalue()
        out._model = result.model.cpu()
        return out
    except (ValueError, DataError) as exc:
        return JobResult("failed", worker=worker, message=str(exc))
    except Exception as exc:  # a bug or the machine (out of memory…): say so, keep the server up
        log.exception("training failed")
        return JobResult("failed", worker=worker, message=f"Training failed: {exc.__class__.__name__}: {exc}")


# ---------------------------------------------------------------- data, once per process and device

_data_lock = threading.Lock()
_data: dict[tuple, MnistData] = {}


def shared_data(spec: DataSpec = DataSpec(), device: str = "cpu") -> MnistData:
    """The dataset as tensors on ``device``, loaded once per process and shared read-only."""
    root = str(resolve_root(spec.root))  # MNIST_DATA_DIR is read now, not when first cached
    key = (root, spec.dataset, str(device))
    with _data_lock:
        if key not in _data:
            cpu = _data.get((root, spec.dataset, "cpu"))
            _data[key] = cpu.to(device) if cpu is not None else load_mnist(root, device=device,
                                                                           dataset=spec.dataset)
        return _data[key]


def default_slots() -> int:
    """``MNIST_TRAINING_SLOTS``, else half the CPU cores (each training already uses every core it gets)."""
    try:
        slots = int(os.environ.get(SLOTS_ENV, "0"))
    except ValueError:
        slots = 0
    return slots if slots > 0 else max(1, (os.cpu_count() or 2) // 2)


class ThreadBackend:
    """Trainings in background threads of this process, at most ``slots`` at once, the rest queued in order."""

    name = "thread"

    def __init__(self, slots: int | None = None):
        self.slots = slots or default_slots()
        self._cond = threading.Condition()
        self._queue: collections.deque[Job] = collections.deque()
        self._workers: list[threading.Thread] = []

    def describe(self) -> str:
        return f"this server, {self.slots} training slot{'s' if self.slots > 1 else ''}"

    def submit(self, config: TrainConfig, data: DataSpec = DataSpec(), start: StartFrom | None = None) -> Job:
        """Queue a training (a fine-tuning with ``start``); ValueError at once for settings that cannot train."""
        job = self._checked_job(config, data, start)
        job._on_stop.append(lambda: self._drop_if_queued(job))
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
            job._update(queue_position=i)  # trainings queued ahead of it

    def _drop_if_queued(self, job: Job) -> None:
        with self._cond:
            if job in self._queue:
                self._queue.remove(job)
                self._renumber()
            else:
                return
        job._finish(JobResult("stopped", message="stopped before it started"))

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

    @staticmethod
    def _checked_job(config: TrainConfig, data: DataSpec, start: StartFrom | None = None) -> Job:
        """A job for settings that can train here; ValueError, with the reason, for any that cannot."""
        config.validate()
        resolve_device(config.device)
        return Job(config, data, start)

    def _run(self, job: Job, on_epoch: Callable[[EpochReport], None] | None = None) -> None:
        worker = f"{worker_name()}, {threading.current_thread().name}"
        try:
            device = str(resolve_device(job.config.device))
            job._update(status="running", queue_position=None, device=device, worker=worker,
                        note="loading the data (once per server)…")
            data = shared_data(job.data, device)
        except (DataError, ValueError) as exc:
            job._finish(JobResult("failed", device=job._device, worker=worker, message=str(exc)))
            return
        except Exception as exc:  # the worker thread lives on; the job ends, said why
            log.exception("loading the data failed")
            job._finish(JobResult("failed", worker=worker, message=f"Loading the data failed: {exc}"))
            return
        job._update(note="training")
        def epoch_ended(report: EpochReport) -> None:
            job._add_epoch(report)
            if on_epoch is not None:
                on_epoch(report)

        result = run_training(job.config, data, should_stop=job._stop.is_set, on_epoch=epoch_ended,
                              on_batch=lambda done, total: job._update(batches=(done, total)), worker=worker,
                              start=job.start)
        job._finish(result)


def get_backend(name: str | None = None, **options):
    """A backend by name: ``thread`` (default; ``MNIST_BACKEND`` when no name is given) or ``ray``.

    ``ray`` comes from the optional ``mnist_ray`` package (``pip install -r requirements-ray.txt``).
    """
    name = name or os.environ.get(BACKEND_ENV, "thread")
    if name == "thread":
        return ThreadBackend(**options)
    if name == "ray":
        try:
            module = importlib.import_module("mnist_ray")
        except ImportError as exc:
            raise ValueError(f"the ray backend needs Ray: pip install -r requirements-ray.txt ({exc})") from None
        return module.RayBackend(**options)
    raise ValueError(f"unknown backend {name!r}; choose thread or ray")


def train_through(backend, config: TrainConfig, data: DataSpec = DataSpec(),
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


__all__ = ["DataSpec", "FINAL", "Job", "JobResult", "JobSnapshot", "ThreadBackend", "default_slots", "get_backend",
           "run_training", "shared_data", "train_through"]
