"""A training as a Ray task: the worker body of every backend (:func:`mnist_core.jobs.worker.run_job`),
its reports streamed back to the submitting process as the task yields them."""

from __future__ import annotations

import queue
import threading
import time

import ray

from ...i18n import N_
from ...train import EpochReport, TrainConfig
from ..job import DataSpec
from ..worker import run_job, worker_name

BATCH_EVERY_SECONDS = 0.25  # batch progress is sent at most this often


class _Stream:
    """The job's driver's side on a worker: each call becomes an item of the task's stream,
    ``(method name, *arguments)``, which the submitting process replays on the :class:`Job`."""

    def __init__(self):
        self.items: queue.Queue = queue.Queue()
        self._last_batch = 0.0

    def mark_running(self, device: str, worker: str, note: str) -> None:
        self.items.put(("mark_running", device, worker, note))

    def set_note(self, note: str) -> None:
        self.items.put(("set_note", note))

    def set_progress(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._last_batch >= BATCH_EVERY_SECONDS or done == total:
            self._last_batch = now
            self.items.put(("set_progress", done, total))

    def add_epoch(self, report: EpochReport) -> None:
        self.items.put(("add_epoch", report))


@ray.remote(max_retries=0)
def train_task(job_id: str, config: TrainConfig, spec: DataSpec, board, start=None):
    """A training on a Ray worker. Yields the driver's calls (``_Stream``), then ("result", JobResult)."""
    ray.get(board.started.remote(job_id))
    stop = threading.Event()
    if ray.get(board.stop_requested.remote(job_id)):
        stop.set()

    def watch_stop():
        try:
            if ray.get(board.wait_stop.remote(job_id)):
                stop.set()
        except Exception:  # the board is gone: Stop can no longer arrive, training goes on
            pass

    threading.Thread(target=watch_stop, daemon=True).start()
    stream = _Stream()
    worker = f"{worker_name()}, Ray node {ray.get_runtime_context().get_node_id()[:8]}"

    def work():  # in a thread: the generator must stay free to yield while the training runs
        result = run_job(config, spec, stream, worker=worker,
                         loading_note=N_("loading the data (once per worker)…"), should_stop=stop.is_set, start=start)
        stream.items.put(("result", result))

    threading.Thread(target=work, daemon=True).start()
    try:
        while True:
            item = stream.items.get()
            yield item
            if item[0] == "result":
                return
    finally:
        board.ended.remote(job_id)
