"""What a worker does with a job, whichever backend runs it: find the device, load the data (once per
process), train, evaluate and pack the result, with one way of turning errors into a failed result.

The thread backend reports straight to the :class:`Job`; a Ray task reports to a stream that carries the
same calls back to the job in the submitting process. Either way the worker sees a :class:`Reporter`.
"""

from __future__ import annotations

import io
import logging
import os
import socket
import threading
from typing import Callable, Protocol

from ..checkpoint import save_checkpoint
from ..data import DataError, MnistData, load_mnist, resolve_root
from ..evaluate import evaluate
from ..train import EpochReport, StartFrom, TrainConfig, resolve_device, train
from .job import DataSpec, JobResult

log = logging.getLogger(__name__)


class Reporter(Protocol):
    """The driver's side of a :class:`Job` that a worker reports to."""

    def mark_running(self, device: str, worker: str, note: str) -> None: ...
    def set_note(self, note: str) -> None: ...
    def set_progress(self, done: int, total: int) -> None: ...
    def add_epoch(self, report: EpochReport) -> None: ...


def worker_name() -> str:
    return f"{socket.gethostname()} (pid {os.getpid()})"


def run_job(config: TrainConfig, spec: DataSpec, report: Reporter, *, worker: str, loading_note: str,
            should_stop: Callable[[], bool], start: StartFrom | None = None) -> JobResult:
    """The worker body of every backend: device, data, training. Never raises: a training that cannot run
    is a failed result with the reason."""
    device = ""
    try:
        device = str(resolve_device(config.device))
        report.mark_running(device, worker, loading_note)
        data = shared_data(spec, device)
    except Exception as exc:
        return failure(exc, device=device, worker=worker)
    report.set_note("training")
    return run_training(config, data, should_stop=should_stop, on_epoch=report.add_epoch,
                        on_batch=report.set_progress, worker=worker, start=start)


def run_training(config: TrainConfig, data: MnistData, *, should_stop: Callable[[], bool] = lambda: False,
                 on_epoch: Callable[[EpochReport], None] | None = None,
                 on_batch: Callable[[int, int], None] | None = None, worker: str = "",
                 start: StartFrom | None = None) -> JobResult:
    """Train on data already loaded, evaluate and pack the result.

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
    except Exception as exc:
        return failure(exc, worker=worker)


def failure(exc: Exception, *, device: str = "", worker: str = "") -> JobResult:
    """The failed result for an error in a worker: bad settings or data say what is wrong; anything else
    (a bug, the machine running out of memory…) is logged and named, and the worker lives on."""
    if isinstance(exc, (DataError, ValueError)):
        return JobResult.failed(str(exc), device=device, worker=worker)
    log.error("training failed", exc_info=exc)
    return JobResult.failed(f"Training failed: {exc.__class__.__name__}: {exc}", device=device, worker=worker)


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
