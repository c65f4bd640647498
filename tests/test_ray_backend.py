"""The Ray job backend against a real Ray cluster: the session's one (``ray_cluster`` in conftest.py)."""

import os
import re
import signal
import socket
import time

import pytest

from mnist_core import TrainConfig
from mnist_core.jobs import ThreadBackend, TooManyTrainings, fair, train_through

from helpers import run_cli, run_main

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -r requirements-ray.txt)")
pytestmark = pytest.mark.ray


def test_epochs_stream_from_a_ray_worker_and_match_in_process_training(ray_backend):
    config = TrainConfig(epochs=3)
    seen = []
    result = train_through(ray_backend, config, on_epoch=lambda e: seen.append((e.epoch, time.monotonic())),
                           timeout=120)
    assert result.status == "completed" and [e for e, _ in seen] == [1, 2, 3]
    assert seen[0][1] < seen[-1][1]                    # reported as they happened, not all at the end
    assert "Ray node" in result.worker and result.device == "cpu"
    here = train_through(ThreadBackend(slots=1), config)
    assert result.epoch_costs == pytest.approx(here.epoch_costs, rel=1e-5)   # same seed, same numbers
    assert result.evaluation.accuracy == pytest.approx(here.evaluation.accuracy, abs=1e-4)
    model = result.model()                             # rebuilt from the checkpoint bytes
    assert model.registry_name == "linear"


def test_stop_reaches_the_worker_within_a_batch_and_keeps_the_model(ray_backend):
    job = ray_backend.submit(TrainConfig(model="mlp", epochs=30, batch_size=256))
    next(job.follow(timeout=120))                      # the first epoch has ended
    job.stop()
    asked = time.monotonic()
    assert job.wait(30)
    assert time.monotonic() - asked < 5
    result = job.result
    assert result.status == "stopped" and 1 <= len(result.epoch_costs) < 30
    assert result.evaluation is not None and result.evaluation.accuracy > 0.9
    assert result.model() is not None


def test_a_queued_training_knows_how_many_are_ahead_and_the_sweep_runs_in_parallel(ray_backend):
    # three epochs each (about 6 s on a free core): long enough to overlap even when a worker starts late
    jobs = [ray_backend.submit(TrainConfig(model="mlp", epochs=3, batch_size=256, lr=lr)) for lr in (0.01, 0.1, 1.0)]
    positions, most_at_once = set(), 0
    deadline = time.monotonic() + 120
    while not all(j.done for j in jobs):
        assert time.monotonic() < deadline
        snaps = [j.snapshot() for j in jobs]
        positions |= {s.queue_position for s in snaps if s.status == "queued" and s.queue_position is not None}
        most_at_once = max(most_at_once, sum(s.status == "running" and s.batches_done > 0 for s in snaps))
        time.sleep(0.05)
    assert [j.result.status for j in jobs] == ["completed"] * 3
    assert most_at_once >= 2  # trained side by side, one per CPU
    assert 0 in positions     # the third waited for a CPU with nobody queued before it


def test_the_cluster_is_shared_fairly_a_limit_per_visitor_and_turns_round_robin(ray_backend, monkeypatch):
    monkeypatch.setattr(ray_backend, "slots", 1)                # one at a time: the order is the queue's
    monkeypatch.setenv(fair.PER_OWNER_ENV, "2")
    a = [ray_backend.submit(TrainConfig(epochs=1, seed=s), owner="a") for s in (1, 2)]
    with pytest.raises(TooManyTrainings, match=r"^You have 2 trainings queued or running"):
        ray_backend.submit(TrainConfig(epochs=1, seed=3), owner="a")
    b = ray_backend.submit(TrainConfig(epochs=1, seed=10), owner="b")
    sweep = [ray_backend.submit(TrainConfig(epochs=1, lr=lr), owner="b", group="sweep") for lr in (0.01, 1.0)]
    with pytest.raises(TooManyTrainings):                       # b1 and the sweep: two submissions
        ray_backend.submit(TrainConfig(epochs=1, seed=11), owner="b")
    assert [j.snapshot().queue_position for j in (b, a[1], *sweep)] == [0, 1, 2, 3]   # b was never served
    started, jobs = [], [*a, b, *sweep]
    deadline = time.monotonic() + 120
    while not all(j.done for j in jobs):
        assert time.monotonic() < deadline
        started += [j for j in jobs if j.status != "queued" and j not in started]
        time.sleep(0.02)
    assert [j.result.status for j in jobs] == ["completed"] * 5
    assert started == [a[0], b, a[1], *sweep]                   # round-robin, not first come
    ray_backend.submit(TrainConfig(epochs=1, seed=4), owner="a").stop()   # ended trainings no longer count


def test_a_killed_worker_fails_its_run_and_the_next_training_works(ray_backend):
    job = ray_backend.submit(TrainConfig(model="cnn", epochs=20, batch_size=256))
    deadline = time.monotonic() + 120
    while job.snapshot().status != "running":
        assert time.monotonic() < deadline and not job.done
        time.sleep(0.05)
    pid = int(re.search(r"pid (\d+)", job.snapshot().worker).group(1))
    assert pid != os.getpid()
    os.kill(pid, signal.SIGKILL)
    assert job.wait(60)
    assert job.result.status == "failed" and "lost" in job.result.message
    again = train_through(ray_backend, TrainConfig(epochs=1), timeout=120)
    assert again.status == "completed"


def test_settings_that_cannot_train_are_refused_before_reaching_the_cluster(ray_backend):
    with pytest.raises(ValueError, match="lr"):
        ray_backend.submit(TrainConfig(lr=-1))


def test_a_training_over_the_limits_is_refused_before_reaching_the_cluster(ray_backend, monkeypatch):
    monkeypatch.setenv("MNIST_MAX_TRAIN_SECONDS", "60")
    with pytest.raises(ValueError, match="over the limit of 60 s"):
        ray_backend.submit(TrainConfig(model="cnn", epochs=30))
    assert ray_backend.queued() == 0


def test_an_unreachable_cluster_is_a_message_within_the_timeout():
    from mnist_core.jobs.ray.backend import RayUnavailable, _check_reachable
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]          # nothing listens here once the socket closes
    start = time.monotonic()
    with pytest.raises(RayUnavailable, match="not reachable.*ray start --head"):
        _check_reachable(f"127.0.0.1:{port}", timeout=5)
    assert time.monotonic() - start < 6


def test_the_cli_prints_the_tutorials_lines_through_a_ray_worker(ray_cluster, mnist_root, capsys, monkeypatch):
    out = run_cli("--backend", "ray", "--epochs", "2",
                  env={"MNIST_DATA_DIR": str(mnist_root), "RAY_ADDRESS": ray_cluster})
    assert out.returncode == 0, out.stderr[-2000:]
    # the same lines as the training in this process: the last digits of a cost depend on the processor's
    # vector width (summation order), so they are compared on the same machine, not with a recorded number
    monkeypatch.setenv("MNIST_DATA_DIR", str(mnist_root))
    here = run_main(capsys, "--epochs", "2")
    assert here.returncode == 0 and len(here.stdout.splitlines()) == 3
    assert out.stdout.splitlines() == here.stdout.splitlines()
    assert re.fullmatch(r"Epoch: 001 cost = 1\.1655\d{5}", out.stdout.splitlines()[0])
    assert "Ray node" in out.stderr


def test_the_cli_says_when_ray_is_unreachable_and_exits_2(mnist_root):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = run_cli("--backend", "ray", env={"RAY_ADDRESS": f"127.0.0.1:{port}", "MNIST_RAY_CONNECT_TIMEOUT": "5"},
                  timeout=60)
    assert out.returncode == 2
    assert "Ray is not reachable" in out.stderr and "Traceback" not in out.stderr
