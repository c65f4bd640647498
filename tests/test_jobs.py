"""The thread backend: its queue, Stop and close, its refusals, and the one worker body's errors.

The queue's tests replace the worker body by one that holds its slot until released, so they take
milliseconds; one test trains for real on MNIST.
"""


import pytest

from mnist_core import TrainConfig
from mnist_core.budget import SECONDS_ENV, WorkLimitError, WorkLimits
from mnist_core.data import DataError
from mnist_core.jobs import DataSpec, ThreadBackend, get_backend
from mnist_core.jobs import worker

TINY = TrainConfig(epochs=1, batch_size=1000, device="cpu")
HOURS = TrainConfig(model="cnn", width=64, batch_size=32, epochs=30, augment=True)  # about 3.5 h


def test_a_training_stopped_while_queued_never_runs_and_the_queue_closes_up(held):
    backend = ThreadBackend(slots=1)
    busy = backend.submit(TrainConfig(seed=1))
    held.wait_running()
    second, third = backend.submit(TrainConfig(seed=2)), backend.submit(TrainConfig(seed=3))
    assert [second.snapshot().queue_position, third.snapshot().queue_position] == [0, 1]
    assert backend.queued() == 2

    second.stop()
    assert second.wait(30), "a queued training that is stopped ends without waiting for the busy slot"
    assert second.result.status == "stopped" and second.result.message == "stopped before it started"
    assert third.snapshot().queue_position == 0 and backend.queued() == 1

    held.release()
    assert busy.wait(60) and third.wait(60)
    assert [c.seed for c in held.ran] == [1, 3]                 # the stopped one never ran
    assert busy.result.status == third.result.status == "completed"


def test_close_stops_every_queued_training(held):
    backend = ThreadBackend(slots=1)
    busy = backend.submit(TrainConfig(seed=1))
    held.wait_running()
    waiting = [backend.submit(TrainConfig(seed=s)) for s in (2, 3, 4)]
    assert backend.queued() == 3
    backend.close()
    assert all(job.wait(30) and job.result.status == "stopped" for job in waiting)  # the busy one is held
    assert backend.queued() == 0
    held.release()
    assert busy.wait(60) and busy.result.status == "completed"
    assert [c.seed for c in held.ran] == [1]


def test_a_training_slot_per_core_each_with_its_share_of_the_cores_as_torch_threads(held, monkeypatch):
    import torch

    from mnist_core.jobs import thread
    monkeypatch.setattr(thread, "cores", lambda: 4)
    monkeypatch.delenv(thread.SLOTS_ENV, raising=False)
    assert thread.default_slots() == 4
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(4)
        job = ThreadBackend(slots=2).submit(TINY)
        held.wait_running()
        assert torch.get_num_threads() == 2                     # two trainings at once: two threads each
        other = ThreadBackend(slots=1).submit(TINY)             # the process's count is only ever lowered
        held.wait_running()
        assert torch.get_num_threads() == 2
        held.release()
        assert job.wait(10) and other.wait(10)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("config, reason", [(TrainConfig(lr=-1), "lr"), (TrainConfig(device="nonsense"), "device"),
                                            (HOURS, "over the limit")])
def test_settings_that_cannot_train_are_refused_by_submit_and_run_here(held, config, reason):
    backend = ThreadBackend(slots=1)
    with pytest.raises(ValueError, match=reason):
        backend.submit(config)
    with pytest.raises(ValueError, match=reason):
        backend.run_here(config)
    assert backend.queued() == 0 and not held.ran


def test_work_limits_come_from_the_host_or_the_backend(held, monkeypatch):
    monkeypatch.setenv(SECONDS_ENV, "60")
    with pytest.raises(WorkLimitError, match="over the limit of 60 s"):
        get_backend("thread").submit(TrainConfig(model="cnn", epochs=30))
    monkeypatch.setenv(SECONDS_ENV, "0")                        # the host lifts its limit...
    backend = ThreadBackend(slots=1, limits=WorkLimits(max_seconds=None, max_memory_mb=1))
    with pytest.raises(WorkLimitError, match="MB of memory"):  # ...a backend given its own keeps it
        backend.submit(TINY)
    assert backend.queued() == 0 and not held.ran
    unlimited = ThreadBackend(slots=1, limits=WorkLimits(max_seconds=None, max_memory_mb=None))
    job = unlimited.submit(HOURS)
    held.wait_running()
    assert held.ran == [HOURS]
    held.release()
    assert job.wait(10)


@pytest.mark.parametrize("error, message", [
    (DataError("train-images-idx3-ubyte is truncated"), "train-images-idx3-ubyte is truncated"),
    (RuntimeError("CUDA out of memory"), "Training failed: RuntimeError: CUDA out of memory"),
])
def test_the_worker_body_turns_an_error_into_a_failed_run_with_the_reason(monkeypatch, error, message):
    def broken(spec, device):
        raise error
    monkeypatch.setattr(worker, "shared_data", broken)
    job = ThreadBackend(slots=1).submit(TINY)
    assert job.wait(10)
    assert job.result.status == "failed" and job.result.message == message
    assert job.result.device == "cpu" and "mnist-training-1" in job.result.worker


def test_a_training_through_submit_streams_its_epochs_and_ends_with_its_model(mnist_root):
    job = ThreadBackend(slots=1).submit(TINY, DataSpec(root=str(mnist_root)))
    reports = list(job.follow(timeout=60))
    result = job.result
    assert [r.epoch for r in reports] == [1] and result.status == "completed"
    assert result.epoch_costs == [reports[0].cost] and result.evaluation.accuracy > 0.8
    assert result.device == "cpu" and "mnist-training-1" in result.worker and result.model() is not None
    snap = job.snapshot()
    assert snap.status == "completed" and snap.queue_position is None and snap.batches_done == snap.batches_total
