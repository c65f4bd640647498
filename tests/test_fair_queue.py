"""The thread backend shares its slots fairly: a limit per owner, and turns taken round-robin across owners.

The worker body is replaced by one that holds its slot until released (test_jobs.py's HeldRuns), so nothing
trains and every test takes milliseconds.
"""

import pytest

from mnist_core import TrainConfig
from mnist_core.jobs import ThreadBackend, TooManyTrainings
from mnist_core.jobs import fair


def test_an_owner_over_the_limit_is_refused_with_a_plain_message(held, monkeypatch):
    monkeypatch.delenv(fair.PER_OWNER_ENV, raising=False)
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
    monkeypatch.setenv(fair.PER_OWNER_ENV, "1")
    backend = ThreadBackend(slots=1)
    backend.submit(TrainConfig(seed=1), owner="a")
    with pytest.raises(TooManyTrainings, match="You have 1 training queued"):
        backend.submit(TrainConfig(seed=2), owner="a")
    monkeypatch.setenv(fair.PER_OWNER_ENV, "not a number")   # unreadable: the default
    assert fair.default_per_owner() == fair.DEFAULT_PER_OWNER == 3
    own = ThreadBackend(slots=1, per_owner=5)
    for seed in range(5):
        own.submit(TrainConfig(seed=seed), owner="a")
    with pytest.raises(TooManyTrainings, match="You have 5 trainings"):
        own.submit(TrainConfig(seed=5), owner="a")
    backend.close(), own.close()  # nothing left to run on the next test's worker body


def test_a_sweep_counts_as_one_submission(held):
    backend = ThreadBackend(slots=1, per_owner=3)
    backend.submit(TrainConfig(seed=1), owner="a")
    held.wait_running()
    backend.submit(TrainConfig(seed=2), owner="a")
    sweep = [backend.submit(TrainConfig(lr=lr), owner="a", group="sweep-1") for lr in (0.001, 0.01, 0.1, 1.0)]
    assert len(sweep) == 4 and backend.queued() == 5
    with pytest.raises(TooManyTrainings):
        backend.submit(TrainConfig(seed=3), owner="a", group="sweep-2")
    backend.close()


def test_the_next_training_is_taken_round_robin_across_owners(held):
    backend = ThreadBackend(slots=1, per_owner=100)
    flood = [backend.submit(TrainConfig(seed=s), owner="a") for s in range(1, 8)]   # seeds 1..7
    held.wait_running()                                          # a's first is running, six queued
    late = backend.submit(TrainConfig(seed=100), owner="b")
    later = backend.submit(TrainConfig(seed=200), owner="c")
    assert late.snapshot().queue_position == 0                   # nothing of b's runs: b goes next...
    assert later.snapshot().queue_position == 1                  # ...then c, first come among the unserved
    assert [j.snapshot().queue_position for j in flood[1:]] == [2, 3, 4, 5, 6, 7]
    second_b = backend.submit(TrainConfig(seed=101), owner="b")
    assert second_b.snapshot().queue_position == 3               # b1 c1 a2 | b2: a was served before b
    held.release()
    assert all(job.wait(10) for job in [*flood, late, later, second_b])
    assert [c.seed for c in held.ran] == [1, 100, 200, 2, 101, 3, 4, 5, 6, 7]


def test_a_newcomer_goes_before_an_owner_holding_every_slot(held):
    backend = ThreadBackend(slots=2, per_owner=100)
    first = [backend.submit(TrainConfig(seed=s), owner="a") for s in (1, 2)]
    held.wait_running(), held.wait_running()                     # a holds both slots
    more = [backend.submit(TrainConfig(seed=s), owner="a") for s in (3, 4)]
    other = backend.submit(TrainConfig(seed=10), owner="b")
    assert other.snapshot().queue_position == 0 and [j.snapshot().queue_position for j in more] == [1, 2]
    held.release()
    assert all(job.wait(10) for job in [*first, *more, other])
    assert sorted(c.seed for c in held.ran) == [1, 2, 3, 4, 10]


def test_a_training_without_an_owner_is_not_limited_and_takes_its_turn(held):
    backend = ThreadBackend(slots=1, per_owner=1)
    anonymous = [backend.submit(TrainConfig(seed=s)) for s in (1, 2, 3)]
    held.wait_running()
    visitor = backend.submit(TrainConfig(seed=10), owner="a")
    assert visitor.snapshot().queue_position == 0
    held.release()
    assert all(job.wait(10) for job in [*anonymous, visitor])
    assert [c.seed for c in held.ran] == [1, 10, 2, 3]


@pytest.fixture
def page(mnist_root, monkeypatch, held):
    """A fresh server-wide backend (one slot) whose trainings hold their slot: the page, one visitor."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from helpers import ROOT
    monkeypatch.setenv("MNIST_DATA_DIR", str(mnist_root))
    monkeypatch.setenv("MNIST_TRAINING_SLOTS", "1")
    monkeypatch.setenv(fair.PER_OWNER_ENV, "2")
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60)
    at.run()
    yield at
    held.release()
    st.cache_resource.clear()


def test_the_page_says_when_a_visitor_has_too_many_trainings(page):
    for _ in range(2):
        page.button(key="train").click().run()
    assert not page.exception and len(page.session_state.visitor.run_list) == 2 and not page.error
    page.button(key="sweep").click().run()
    assert [e.value for e in page.error] == ["You have 2 trainings queued or running; wait for one to end or "
                                             "stop one."]
    assert len(page.session_state.visitor.run_list) == 2               # nothing of the sweep was queued
    page.button(key="stop").click().run()                      # Stop ends this visitor's trainings...
    assert all(r.job.wait(10) for r in page.session_state.visitor.run_list)
    page.button(key="sweep").click().run()                     # ...and the sweep's four go in as one
    assert not page.error and [r.config.lr for r in page.session_state.visitor.run_list[-4:]] == [0.001, 0.01, 0.1, 1.0]


def test_a_click_that_cuts_the_script_run_short_never_loses_its_training(page, monkeypatch):
    """Another click stops the script run at its next Streamlit call (the page's next element, or its next read or
    write of session state) and starts a new one. Stopped right after the backend took the training, the run is
    kept all the same: in the tab, in the store, and in the workspace the next training goes to."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx
    real = ThreadBackend.submit

    def submit_then_cut_short(backend, *args, **kwargs):
        job = real(backend, *args, **kwargs)
        get_script_run_ctx().script_requests.request_stop()    # what a second click does to this script run
        return job
    monkeypatch.setattr(ThreadBackend, "submit", submit_then_cut_short)
    page.button(key="train").click().run()
    monkeypatch.setattr(ThreadBackend, "submit", real)
    page.run()
    [run] = page.session_state.visitor.run_list
    assert run.job is not None and not run.done and page.session_state.visitor.ws == run.stored.workspace
    page.button(key="train").click().run()
    assert [r.stored.workspace for r in page.session_state.visitor.run_list] == [run.stored.workspace] * 2


def test_a_first_script_run_cut_short_opens_the_tab_again(mnist_root, monkeypatch):
    """A tab's first script run can be stopped anywhere too: stopped while it writes the address's settings into
    session state, the next run opens the tab whole, with the address's workspace and settings."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx
    from streamlit.testing.v1 import AppTest

    from dashboard import session
    from helpers import ROOT
    from playground.store import RunStore
    monkeypatch.setenv("MNIST_DATA_DIR", str(mnist_root))
    ws, real, calls = RunStore().new_workspace(), session.from_query, []

    def read_then_cut_short(params):
        calls.append(params)
        if len(calls) == 1:
            get_script_run_ctx().script_requests.request_stop()    # the next session-state write stops the run
        return real(params)
    monkeypatch.setattr(session, "from_query", read_then_cut_short)
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60)
    at.query_params.update({"ws": ws, "epochs": "3"})
    at.run()
    at.run()
    assert not at.exception and len(calls) == 2
    assert at.session_state.visitor.ws == ws and at.sidebar.slider(key="epochs").value == 3
