"""The application without its page (playground): a visitor's actions, the recorder, the orphan rule."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from mnist_core import TrainConfig
from mnist_core.jobs import Job, JobResult
from mnist_core.train import EpochReport
from playground import recorder
from playground.runs import STALE_SECONDS, is_orphaned
from playground.store import MAX_RUNS, RunStore, StoredRun, StoreUnavailable
from playground.workspace import Notice, Visitor, Workspace


@pytest.fixture
def store(tmp_path):
    return RunStore(f"sqlite:///{tmp_path / 'runs.sqlite'}")


def workspace(store, visitor=None, live=None) -> Workspace:
    return Workspace(visitor or Visitor(), lambda: store, {} if live is None else live, lambda run_id: None)


def unreachable():
    raise StoreUnavailable("connection refused")


def report(epoch: int) -> EpochReport:
    return EpochReport(epoch, 0.5, 0.9, None, 0.1 * epoch, 2)


def a_result(epochs: int = 2) -> JobResult:
    return JobResult("completed", [0.5] * epochs, [0.9] * epochs, 0.2, "cpu", "here")


def levels(notices: list[Notice]) -> list[str]:
    return [n.level for n in notices]


def stale(store: RunStore, run_id: int) -> None:
    """No news from the run for an hour, as if its server had stopped."""
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE runs SET updated = updated - 3600 WHERE id = :id"), {"id": run_id})


# ------------------------------------------------------------------ the orphan rule

def test_a_run_with_no_news_for_stale_seconds_is_orphaned_unless_it_trains_here_or_ended():
    now = datetime.now(timezone.utc)
    run = lambda status, ago: StoredRun(1, "w" * 22, 1, {}, status, updated=now - timedelta(seconds=ago))  # noqa: E731
    assert is_orphaned(run("running", STALE_SECONDS + 1), live=False, now=now)
    assert is_orphaned(run("queued", STALE_SECONDS + 1), live=False, now=now)
    assert not is_orphaned(run("running", STALE_SECONDS - 1), live=False, now=now)
    assert not is_orphaned(run("running", STALE_SECONDS + 1), live=True, now=now)    # this server trains it
    assert not is_orphaned(run("completed", 3600), live=False, now=now)
    assert not is_orphaned(StoredRun(1, "w" * 22, 1, {}, "running"), live=False, now=now)  # never written


def test_reading_a_workspace_writes_nothing_and_settling_marks_its_orphans(store):
    ws = store.new_workspace()
    left, _ = store.add_run(ws, {})
    store.add_epoch(left.id, report(1))
    store.heartbeat(left.id, status="running")
    here, _ = store.add_run(ws, {})                                 # trained by this server process
    store.heartbeat(here.id, status="running")
    token = store.share(ws, 1)
    stale(store, left.id)
    stale(store, here.id)
    writes = []
    sa.event.listen(store.engine, "before_cursor_execute",
                    lambda conn, cursor, statement, *_: writes.append(statement)
                    if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")) else None)
    live = {here.id: Job(TrainConfig())}
    visitor = Visitor(ws=ws)
    assert workspace(store, visitor, live).load_runs() == []
    assert [r.status for r in visitor.run_list] == ["interrupted", "queued"]   # shown so, from what was read
    viewer = Visitor()
    assert workspace(store, viewer, live).open_shared(token) == [] and viewer.shared.status == "interrupted"
    assert writes == [] and [r.status for r in store.runs(ws)] == ["running", "running"]
    training, notices = workspace(store, visitor, live).settle_runs()
    assert training and notices == []
    assert [r.status for r in store.runs(ws)] == ["interrupted", "running"]    # the store hears of it now


# ------------------------------------------------------------------ the recorder

class Clock:
    """The recorder's time, run by the test: each sleep moves it on and plays what was due meanwhile."""

    def __init__(self, script: dict[float, callable]):
        self.now, self.script = 0.0, sorted(script.items())

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        while self.script and self.script[0][0] <= self.now:
            self.script.pop(0)[1]()
        assert self.now < 10_000, "the recorder never ended"


class FlakyStore:
    """The run store, unreachable while ``down``."""

    def __init__(self, store: RunStore):
        self.store, self.down = store, False

    def __getattr__(self, name):
        def call(*args, **kwargs):
            if self.down:
                raise StoreUnavailable("connection refused")
            return getattr(self.store, name)(*args, **kwargs)
        return call


def recording(store, monkeypatch, outages: list[tuple[float, float]], ends: float):
    """A real job driven by the clock (running at 1 s, epoch 1 at 2 s, epoch 2 at 60 s, its result at ``ends``),
    recorded through a store that is down for each (from, to) of ``outages`` (the hour of grace made a minute)."""
    ws = store.new_workspace()
    stored, _ = store.add_run(ws, TrainConfig(epochs=2).to_dict())
    job, flaky = Job(TrainConfig(epochs=2)), FlakyStore(store)
    script = {1: lambda: job.mark_running("cpu", "here", "training"),
              2: lambda: job.add_epoch(report(1)), 60: lambda: job.add_epoch(report(2)),
              ends: lambda: job.finish(a_result())}
    for start, end in outages:
        script[start] = lambda: setattr(flaky, "down", True)
        script[end] = lambda: setattr(flaky, "down", False)
    monkeypatch.setattr(recorder, "time", Clock(script))
    monkeypatch.setattr(recorder, "OUTAGE_SECONDS", 60)
    live = {stored.id: job}
    recorder.record(flaky, stored.id, job, live)
    return store.runs(ws)[0], live


def test_the_recorder_rides_out_two_outages_separated_by_success(store, monkeypatch):
    # each shorter than the grace; the second long after the first one's grace would have run out
    run, live = recording(store, monkeypatch, outages=[(10, 50), (200, 230)], ends=240)
    assert run.status == "completed" and [e["epoch"] for e in run.epochs] == [1, 2] and not live


def test_the_recorder_gives_up_after_one_long_outage(store, monkeypatch):
    run, live = recording(store, monkeypatch, outages=[(10, 5000)], ends=240)
    assert run.status == "running" and [e["epoch"] for e in run.epochs] == [1]
    assert live                                                     # the run lives on in its job


# ------------------------------------------------------------------ opening

def test_opening_a_workspace_from_the_address(store):
    ws = store.new_workspace()
    visitor = Visitor()
    assert workspace(store, visitor).open(ws, None) == [] and visitor.ws == ws
    notices = workspace(store, visitor).open("../../etc/passwd", None)
    assert levels(notices) == ["warning"] and "workspace id is not valid" in notices[0].message
    assert store.has_workspace(visitor.ws) and visitor.ws != ws
    notices = workspace(store, visitor).open("A_" * 11, None)
    assert "No workspace A\\_A\\_" in notices[0].message and "unseen for 30 days" in notices[0].message  # escaped
    down = Visitor()
    notices = Workspace(down, unreachable, {}, lambda run_id: None).open(ws, None)
    assert levels(notices) == ["error"] and "kept in this browser tab only" in notices[0].message
    assert down.ws is None and down.unread == {"ws": ws}           # the address keeps it


def test_an_unreadable_keep_days_setting_is_said_once_on_opening(store, monkeypatch):
    monkeypatch.setenv("MNIST_KEEP_DAYS", "abc")
    notices = workspace(store).open(None, None)
    assert levels(notices) == ["error"] and "kept 30 days" in notices[0].message


def test_opening_a_share_link_makes_no_workspace(store):
    owner = store.new_workspace()
    run, _ = store.add_run(owner, {})
    store.finish_run(run.id, a_result())
    token = store.share(owner, 1)
    viewer = Visitor()
    assert workspace(store, viewer).open(None, token) == []
    assert viewer.ws is None and viewer.shared.number == 1 and viewer.shared.status == "completed"
    notices = workspace(store, viewer).open("<b>not a workspace</b>", token)
    assert viewer.ws is None and "The address's workspace id names no workspace here" in notices[0].message
    assert "not a workspace" not in notices[0].message            # what a visitor typed is never echoed
    assert workspace(store, viewer).open(owner, token) == [] and viewer.ws == owner
    notices = workspace(store, viewer).open(None, "B" * 22)
    assert viewer.shared is None and "share link names no run" in notices[0].message and viewer.ws
    down = Visitor()
    assert levels(Workspace(down, unreachable, {}, lambda run_id: None).open(None, token)) == ["error", "error"]
    assert down.unread == {"run": token}


# ------------------------------------------------------------------ the workspace's runs

def test_a_new_run_is_recorded_by_the_server_not_the_visitor(store):
    visitor, live = Visitor(), {}
    actions = workspace(store, visitor, live)
    actions.open(None, None)
    job = Job(TrainConfig(epochs=2))
    run, notices = actions.add_run(job)
    assert notices == [] and run.number == 1 and visitor.run_list == [run] and live == {run.id: job}
    job.mark_running("cpu", "here", "training")
    job.add_epoch(report(1))
    job.finish(a_result())
    deadline = time.monotonic() + 10
    while live and time.monotonic() < deadline:                     # the recorder drops it once stored
        time.sleep(0.05)
    [back] = store.runs(visitor.ws)
    assert not live and back.status == "completed" and len(back.epochs) == 2


def test_a_run_the_store_cannot_take_is_kept_in_the_tab(store):
    visitor = Visitor(ws=store.new_workspace())
    run, notices = Workspace(visitor, unreachable, {}, lambda run_id: None).add_run(Job(TrainConfig()))
    assert levels(notices) == ["warning"] and "run #1 is kept in this browser tab only" in notices[0].message
    assert visitor.offline == [run] and visitor.run_list == [run] and run.id is None


def test_share_remove_and_a_run_removed_meanwhile(store):
    visitor = Visitor(ws=store.new_workspace())
    actions = workspace(store, visitor)
    for _ in range(2):
        stored, _ = store.add_run(visitor.ws, {})
        store.finish_run(stored.id, a_result())
    actions.load_runs()
    assert actions.share_run(1, "http://host/app") == []
    assert visitor.share_links[1] == f"http://host/app/?run={store.get_run(visitor.ws, 1).share_token}"
    assert actions.remove_run(1) == [] and [r.number for r in visitor.run_list] == [2]
    store.remove_run(visitor.ws, 2)                                  # in another tab
    notices = actions.share_run(2, "http://host/app")
    assert levels(notices) == ["warning"] and "no longer in this workspace" in notices[0].message
    notices = Workspace(visitor, unreachable, {}, lambda run_id: None).remove_run(2)
    assert "could not be removed now" in notices[0].message and [r.number for r in visitor.run_list] == [2]


def test_copying_a_shared_run_and_one_removed_meanwhile(store):
    owner = store.new_workspace()
    for _ in range(2):
        run, _ = store.add_run(owner, {})
        store.finish_run(run.id, a_result())
    viewer = Visitor()
    actions = workspace(store, viewer)
    actions.open(None, store.share(owner, 1))
    notices = actions.copy_shared()
    assert notices == [Notice("success", "Copied into your workspace as run #1.")]
    assert viewer.shared is None and viewer.ws not in (None, owner) and len(store.runs(viewer.ws)) == 1
    gone = Visitor()
    actions = workspace(store, gone)
    actions.open(None, store.share(owner, 2))
    store.remove_run(owner, 2)
    notices = actions.copy_shared()
    assert levels(notices) == ["warning"] and "Here is the page as new." in notices[0].message
    assert gone.shared is None and gone.ws and store.runs(gone.ws) == []


def test_settling_drops_runs_that_ended_empty_and_says_why_until_the_next_training(store):
    visitor = Visitor(ws=store.new_workspace())
    kept, _ = store.add_run(visitor.ws, {})
    store.finish_run(kept.id, a_result())
    failed, _ = store.add_run(visitor.ws, {})
    store.finish_run(failed.id, JobResult("failed", message="out of memory"))
    stopped, _ = store.add_run(visitor.ws, {})
    store.finish_run(stopped.id, JobResult("stopped"))
    training, notices = workspace(store, visitor).settle_runs()
    assert not training and [r.number for r in visitor.run_list] == [1] and visitor.seen_done == {1}
    assert [(n.level, n.lasting) for n in notices] == [("error", True), ("info", True)]
    assert "Run #2 failed: out of memory" in notices[0].message and "Run #3 was stopped" in notices[1].message
    assert [r.number for r in store.runs(visitor.ws)] == [1]
    assert workspace(store, visitor).latest_finished() is None      # no evaluation, no model


def test_a_run_let_go_at_the_cap_is_a_lasting_note(store):
    visitor = Visitor(ws=store.new_workspace())
    for _ in range(MAX_RUNS):
        run, _ = store.add_run(visitor.ws, {})
        store.finish_run(run.id, a_result())
    actions = workspace(store, visitor)
    actions.load_runs()
    run, notices = actions.add_run(Job(TrainConfig()))
    assert [(n.level, n.lasting) for n in notices] == [("info", True)] and "Run #1 was let go" in notices[0].message
    assert [r.number for r in visitor.run_list][0] == 2 and len(visitor.run_list) == MAX_RUNS
    run.job.finish(JobResult("stopped"))                           # its recorder ends
