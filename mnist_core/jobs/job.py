"""A training handed to a backend: the :class:`Job` handle, its :class:`JobResult` and the status names.

Readers (the page, the CLI) call :meth:`Job.snapshot`, :meth:`Job.follow` or :meth:`Job.wait`; whoever
drives the training (a backend) calls the driver's methods (:meth:`Job.mark_running`,
:meth:`Job.add_epoch`, :meth:`Job.finish`…). Both sides are thread-safe.
"""

from __future__ import annotations

import io
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Iterator

from torch import nn

from ..checkpoint import load_checkpoint
from ..evaluate import EvalResult
from ..train import EpochReport, StartFrom, TrainConfig

QUEUED, RUNNING = "queued", "running"
COMPLETED, STOPPED, DIVERGED, FAILED = "completed", "stopped", "diverged", "failed"
FINAL = (COMPLETED, STOPPED, DIVERGED, FAILED)


@dataclass(frozen=True)
class DataSpec:
    """Where a worker finds the data: ``root`` as :func:`load_mnist` takes it (None: its default)."""

    root: str | None = None
    dataset: str = "mnist"


@dataclass
class JobResult:
    status: str                      # one of FINAL
    epoch_costs: list[float] = field(default_factory=list)
    test_accuracies: list[float | None] = field(default_factory=list)
    train_seconds: float = 0.0
    device: str = ""
    worker: str = ""
    checkpoint: bytes | None = None  # a .pt file (save_checkpoint); None when no epoch was trained
    evaluation: EvalResult | None = None
    message: str | None = None       # why it failed, in words for the user
    _model: nn.Module | None = field(default=None, repr=False, compare=False)

    @classmethod
    def failed(cls, message: str, *, device: str = "", worker: str = "") -> "JobResult":
        """A training that could not run or was lost, ``message`` saying why in words for the user."""
        return cls(FAILED, device=device, worker=worker, message=message)

    @classmethod
    def never_started(cls) -> "JobResult":
        """A queued training stopped before a backend started it."""
        return cls(STOPPED, message="stopped before it started")

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

    status: str                      # QUEUED, RUNNING or one of FINAL
    epochs: tuple[EpochReport, ...]
    batches_done: int
    batches_total: int
    queue_position: int | None       # trainings ahead of this one, while queued
    note: str                        # what it is doing now, in words ("loading MNIST…")
    device: str
    worker: str
    stop_requested: bool


class Job:
    """A training handed to a backend: read it with :meth:`snapshot`, :meth:`follow` or :meth:`wait`,
    end it with :meth:`stop`; the backend drives it with the methods below *the driver's side*."""

    def __init__(self, config: TrainConfig, data: DataSpec = DataSpec(), start: StartFrom | None = None):
        self.id = uuid.uuid4().hex
        self.config = config
        self.data = data
        self.start = start
        self.submitted = time.time()
        self._cond = threading.Condition()
        self._status = QUEUED
        self._epochs: list[EpochReport] = []
        self._batches = (0, 0)
        self._queue_position: int | None = None
        self._note = QUEUED
        self._device = ""
        self._worker = ""
        self._stop = threading.Event()
        self._stop_hooks: list[Callable[[], None]] = []
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
        for hook in list(self._stop_hooks):
            hook()
        with self._cond:
            self._cond.notify_all()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    # ---------------------------------------------------------------- the driver's side
    def on_stop(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` when someone stops the job (the backend's way to carry Stop to its worker)."""
        self._stop_hooks.append(hook)

    def set_queue_position(self, position: int | None) -> None:
        self._set(queue_position=position)

    def mark_running(self, device: str, worker: str, note: str) -> None:
        self._set(status=RUNNING, queue_position=None, device=device, worker=worker, note=note)

    def set_note(self, note: str) -> None:
        self._set(note=note)

    def set_progress(self, done: int, total: int) -> None:
        """Batches done of this epoch's total."""
        self._set(batches=(done, total))

    def add_epoch(self, report: EpochReport) -> None:
        with self._cond:
            self._epochs.append(report)
            self._cond.notify_all()

    def finish(self, result: JobResult) -> None:
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

    def fail(self, message: str) -> None:
        """End the job as failed, keeping the device and worker it was seen on."""
        with self._cond:
            device, worker = self._device, self._worker
        self.finish(JobResult.failed(message, device=device, worker=worker))

    def _set(self, **changes) -> None:
        with self._cond:
            for name, value in changes.items():
                setattr(self, "_" + name, value)
            self._cond.notify_all()
