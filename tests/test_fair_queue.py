"""The thread backend shares its slots fairly: a limit per owner, and turns taken round-robin across owners.

The worker body is replaced by one that holds its slot until released (test_jobs.py's HeldRuns), so nothing
trains and every test takes milliseconds.
"""

import pytest

from mnist_core import TrainConfig
from mnist_core.jobs import ThreadBackend, TooManyTrainings
from mnist_core.jobs import thread as thread_backend
from test_jobs import HeldRuns


@pytest.fixture
def held(monkeypatch):
    runs = HeldRuns()
    monkeypatch.setattr(thread_backend, "run_job", runs)
    yield runs
    runs.release()


def test_an_owner_over_the_limit_is_refused_with_a_plain_message(held, monkeypatch):
    monkeypatch.delenv(thread_backend.PER_OWNER_ENV, raising=False)
    backend = ThreadBackend(slots=1)
    mine = [backend.submit(TrainConfig(seed=s), owner="a") for s in range(3)]
    held.wait_running()
    with pytest.raises(TooManyTrainings, match=r"^You have 3 trainings queued or running; wait for one to end "
                                               r"or stop one\.$"):
        backend.submit(TrainConfig(seed=9), owner="a")
    assert backend.queued() == 2                                # the refused one was never queued
    other = backend.submit(TrainConfig(seed=10), owner="b")     # another owner is not counted with "a"
    mine[2].stop()                                              # one ended: room for one more
    backend.submit(TrainConfig(seed=11), owner="a")
    with pytest.raises(TooManyTrainings):
        backend.submit(TrainConfig(seed=12), owner="a")
    held.release()
    assert all(job.wait(10) for job in [*mine, other])
    backend.submit(TrainConfig(seed=13), owner="a")             # ended trainings no longer count


def test_the_limit_comes_from_the_host_or_the_backend(held, monkeypatch):
    monkeypatch.setenv(thread_backend.PER_OWNER_ENV, "1")
    backend = ThreadBackend(slots=1)
    backend.submit(TrainConfig(seed=1), owner="a")
    with pytest.raises(TooManyTrainings, match="You have 1 training queued"):
        backend.submit(TrainConfig(seed=2), owner="a")
    monkeypatch.setenv(thread_backend.PER_OWNER_ENV, "not a number")   # unreadable: the default
    assert thread_backend.default_per_owner() == thread_backend.DEFAULT_PER_OWNER == 3
    own = ThreadBackend(slots=1, per_owner=5)
    for seed in range(5):
        own.submit(TrainConfig(seed=seed), owner="a")
    with pytest.raises(TooManyTrainings, match="You have 5 trainings"):
        own.submit(TrainConfig(seed=5), owner="a")


def test_a_sweep_counts_as_one_submission(held):
    backend = ThreadBackend(slots=1, per_owner=3)
    backend.submit(TrainConfig(seed=1), owner="a")
    backend.submit(TrainConfig(seed=2), owner="a")
    sweep = [backend.submit(TrainConfig(lr=lr), owner="a", group="sweep-1") for lr in (0.001, 0.01, 0.1, 1.0)]
    assert len(sweep) == 4 and backend.queued() == 5
    with pytest.raises(TooManyTrainings):
        backend.submit(TrainConfig(seed=3), owner="a", group="sweep-2")


def test_the_next_training_is_taken_round_robin_across_owners(held):
    backend = ThreadBackend(slots=1, per_owner=100)
    flood = [backend.submit(TrainConfig(seed=s), owner="a") for s in range(1, 8)]   # seeds 1..7
    held.wait_running()                                          # a's first is running, six queued
    late = backend.submit(TrainConfig(seed=100), owner="b")
    later = backend.submit(TrainConfig(seed=200), owner="c")
    assert late.snapshot().queue_position == 1                   # only a's 2nd before it...
    assert later.snapshot().queue_position == 2                  # ...and b's before c's
    assert [j.snapshot().queue_position for j in flood[1:]] == [0, 3, 4, 5, 6, 7]
    second_b = backend.submit(TrainConfig(seed=101), owner="b")
    assert second_b.snapshot().queue_position == 4               # a2 b1 c1 a3 | b2 a4...
    held.release()
    assert all(job.wait(10) for job in [*flood, late, later, second_b])
    assert [c.seed for c in held.ran] == [1, 2, 100, 200, 3, 101, 4, 5, 6, 7]


def test_a_training_without_an_owner_is_not_limited_and_takes_its_turn(held):
    backend = ThreadBackend(slots=1, per_owner=1)
    anonymous = [backend.submit(TrainConfig(seed=s)) for s in (1, 2, 3)]
    held.wait_running()
    visitor = backend.submit(TrainConfig(seed=10), owner="a")
    assert visitor.snapshot().queue_position == 1
    held.release()
    assert all(job.wait(10) for job in [*anonymous, visitor])
    assert [c.seed for c in held.ran] == [1, 2, 10, 3]
