"""A run removed through one server stops its training on the server that runs it, and frees its slot.

Two servers are two store handles on one SQLite file: the one that trains records its run (the recorder),
the other removes it. No page, no browser: the training is a stand-in worker body that reports an epoch
when told to and otherwise trains until asked to stop.
"""

import threading
import time

import pytest

from mnist_core import TrainConfig
from mnist_core.jobs import JobResult, ThreadBackend
from mnist_core.jobs import thread as thread_backend
from mnist_core.train import EpochReport
from playground import recorder
from playground.store import RunStore


class EndlessRuns:
    """A worker body that trains until asked to stop, reporting an epoch each time :meth:`epoch` is called."""

    def __init__(self):
        self.epochs = threading.Semaphore(0)
        self.running = threading.Semaphore(0)

    def __call__(self, config, spec, report, *, worker, loading_note, should_stop, start=None):
        report.mark_running("cpu", worker, loading_note)
        self.running.release()
        done = 0
        while not should_stop():
            if self.epochs.acquire(timeout=0.01):
                done += 1
                report.add_epoch(EpochReport(done, 0.5, 0.9, None, 0.1 * done, config.epochs))
        return JobResult("stopped", device="cpu", worker=worker)


@pytest.mark.parametrize("news", ["epoch", "heartbeat"])
def test_a_run_removed_through_another_server_stops_training_and_frees_its_slot(tmp_path, monkeypatch, news):
    runs = EndlessRuns()
    monkeypatch.setattr(thread_backend, "run_job", runs)
    # The heartbeat path alone: long between beats unless it is the news under test.
    monkeypatch.setattr(recorder, "HEARTBEAT_SECONDS", 0.1 if news == "heartbeat" else 3600)
    monkeypatch.setattr(recorder, "RECORD_POLL_SECONDS", 0.02)
    url = f"sqlite:///{tmp_path / 'runs.sqlite'}"
    training_server, other_server = RunStore(url), RunStore(url)
    backend = ThreadBackend(slots=1)
    ws = training_server.new_workspace()
    stored, _ = training_server.add_run(ws, TrainConfig(epochs=50).to_dict())
    job = backend.submit(TrainConfig(epochs=50), owner=ws)
    live = {stored.id: job}
    writer = threading.Thread(target=recorder.record, args=(training_server, stored.id, job, live), daemon=True)
    writer.start()
    assert runs.running.acquire(timeout=5)
    waiting = backend.submit(TrainConfig(epochs=50), owner=ws)          # queued behind it: one slot
    assert waiting.snapshot().queue_position == 0
    deadline = time.monotonic() + 5
    while other_server.get_run(ws, stored.number).status != "running":  # the recorder has told the store
        assert time.monotonic() < deadline
        time.sleep(0.01)

    other_server.remove_run(ws, stored.number)
    if news == "epoch":
        runs.epochs.release()                                           # the next epoch ends
    assert job.wait(3), "the removed run is still training"
    assert job.status == "stopped" and not live
    writer.join(3)
    assert runs.running.acquire(timeout=5), "its slot was not freed"    # the queued training starts
    assert training_server.runs(ws) == []                              # nothing written back for it
    backend.close()
    waiting.stop()
