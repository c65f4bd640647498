"""The application without its page (playground): a visitor's actions, the recorder, the orphan rule."""

from __future__ import annotations

import socket
import threading
import time
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
import sqlalchemy as sa

from mnist_core import TrainConfig
from mnist_core.jobs import Job, JobResult
from mnist_core.train import EpochReport
from playground import recorder
from playground.owner import Owner, this_process
from playground.runs import STALE_SECONDS, fine_tune_of, is_orphaned
from playground.schema import runs_table, workspaces
from playground.store import MAX_RUNS, MAX_SHARED, RunStore, StoredRun, StoreUnavailable
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
        # only the test's own recorder runs on this clock: a recorder thread left by an earlier test in this
        # process (its training still ending) keeps real time, and cannot play this script out of order
        self.thread = threading.get_ident()

    def monotonic(self) -> float:
        return self.now if threading.get_ident() == self.thread else time.monotonic()

    def sleep(self, seconds: float) -> None:
        if threading.get_ident() != self.thread:
            return time.sleep(seconds)
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
    assert visitor.ws is None                                       # made when something is kept
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
    assert viewer.shared is None and "share link names no run" in notices[0].message and viewer.ws is None
    down = Visitor()
    assert levels(Workspace(down, unreachable, {}, lambda run_id: None).open(None, token)) == ["error"]  # no ws tried
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


def test_a_visitors_second_script_run_waits_for_the_first_ones_action_and_uses_its_workspace(store):
    """A click starts a new script run while the one it stopped may still be in an action (Streamlit's fast
    reruns): the second's training waits for the first's to be kept, and goes to the workspace it made, never a
    second one that the visitor's address would not name."""
    visitor, jobs = Visitor(), []
    inside, go_on = threading.Event(), threading.Event()

    def slow_submit(config):                                        # the first training, slow to be taken
        inside.set()
        go_on.wait(10)
        jobs.append(Job(config))
        return jobs[-1]
    first = threading.Thread(target=workspace(store, visitor).train, args=(slow_submit, [TrainConfig(seed=1)]))
    first.start()
    assert inside.wait(10)
    second = threading.Thread(target=workspace(store, visitor).train,
                              args=(lambda config: jobs.append(Job(config)) or jobs[-1], [TrainConfig(seed=2)]))
    second.start()
    time.sleep(0.2)                                                 # the second is in, or waiting at, its action
    go_on.set()
    first.join(10), second.join(10)
    assert [r.config.seed for r in visitor.run_list] == [1, 2] and [r.number for r in visitor.run_list] == [1, 2]
    assert {r.stored.workspace for r in visitor.run_list} == {visitor.ws}
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(workspaces)).scalar() == 1
    for job in jobs:
        job.finish(a_result())


def test_training_stops_at_the_first_refusal_and_keeps_what_went_before(store):
    visitor, taken = Visitor(), []

    def submit(config):
        if len(taken) == 2:
            raise ValueError("You have 2 trainings queued or running; wait for one to end or stop one.")
        taken.append(Job(config))
        return taken[-1]
    runs, notices = workspace(store, visitor).train(submit, [TrainConfig(lr=lr) for lr in (0.01, 0.1, 1.0, 10.0)])
    assert [r.config.lr for r in runs] == [0.01, 0.1] and visitor.run_list == runs
    assert [(n.level, n.message) for n in notices] == [
        ("error", "You have 2 trainings queued or running; wait for one to end or stop one.")]
    for job in taken:
        job.finish(a_result())


def test_a_training_or_drawing_whose_workspace_was_removed_meanwhile_starts_a_new_one(store):
    """The tab kept a workspace the store has since removed (unseen for its keep days): the training the
    backend has taken, or the drawing, is kept all the same, in a new workspace, and the visitor is told."""
    visitor, taken = Visitor(ws=store.new_workspace()), []
    store.prune(keep_days=-1)                                       # every workspace is unseen for too long
    runs, notices = workspace(store, visitor).train(lambda config: taken.append(Job(config)) or taken[-1],
                                                    [TrainConfig()])
    assert levels(notices) == ["warning"] and "what you just made starts a new one" in notices[0].message
    assert [r.stored.workspace for r in runs] == [visitor.ws] and store.has_workspace(visitor.ws)
    taken[0].finish(a_result())
    store.prune(keep_days=-1)                                       # and again, before a drawing is kept
    notices = workspace(store, visitor).add_examples(np.zeros((1, 28, 28), np.uint8), [4])
    assert levels(notices) == ["warning"] and [label for _, _, label in store.examples(visitor.ws)] == [4]


def test_a_run_the_store_cannot_take_is_kept_in_the_tab(store):
    visitor = Visitor(ws=store.new_workspace())
    run, notices = Workspace(visitor, unreachable, {}, lambda run_id: None).add_run(Job(TrainConfig()))
    assert levels(notices) == ["warning"] and "run #1 is kept in this browser tab only" in notices[0].message
    assert visitor.offline == [run] and visitor.run_list == [run] and run.id is None


def test_a_fine_tune_is_named_by_its_source_in_the_store_and_in_the_tab(store):
    visitor = Visitor(ws=store.new_workspace())
    run, _ = workspace(store, visitor).add_run(Job(TrainConfig(lr=0.05, batch_size=256, epochs=1)), tuned_from=3)
    assert run.tuned_from == 3 and store.get_run(visitor.ws, run.number).tuned_from == 3
    workspace(store, visitor).load_runs()
    assert fine_tune_of(visitor.run_list[-1]) == "fine-tune of run #3 on your handwriting"
    offline, _ = Workspace(visitor, unreachable, {}, lambda run_id: None).add_run(Job(TrainConfig()), tuned_from=0)
    assert fine_tune_of(offline) == "fine-tune of the shipped model on your handwriting"


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
    assert gone.shared is None and gone.ws is None                  # nothing copied: no workspace made


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


# ------------------------------------------------------------------ what a visitor makes is kept; looking makes nothing

def workspace_rows(store) -> int:
    with store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(workspaces)).scalar()


def test_looking_makes_no_workspace_and_the_first_thing_kept_makes_one(store):
    for _ in range(200):                                            # page loads from one websocket
        visitor = Visitor()
        assert workspace(store, visitor).open(None, None) == [] and visitor.ws is None
    assert workspace_rows(store) == 0
    trainer, live = Visitor(), {}
    run, notices = workspace(store, trainer, live).add_run(Job(TrainConfig()))
    assert notices == [] and trainer.ws and store.runs(trainer.ws)[0].number == run.number == 1
    drawer = Visitor()
    assert workspace(store, drawer).add_examples(np.zeros((1, 28, 28), np.uint8), [4]) == []
    assert drawer.ws and drawer.ws != trainer.ws and workspace_rows(store) == 2
    run.job.finish(JobResult("stopped"))                           # its recorder ends


def test_drawn_examples_outlive_the_tab_and_load_from_a_downloaded_file(store, tmp_path):
    from mnist_core.handwriting import save_examples
    images = np.random.default_rng(1).integers(0, 256, (4, 28, 28), dtype=np.uint8)
    visitor = Visitor()
    actions = workspace(store, visitor)
    for image, label in zip(images[:3], (3, 1, 4)):
        actions.add_examples([image], [label])
    assert actions.undo_example() == []
    again = Visitor()                                               # a reload, a restart, another day
    workspace(store, again).open(visitor.ws, None)
    assert [label for _, _, label in again.examples] == [3, 1] and np.array_equal(again.examples[1][1], images[1])
    save_examples(tmp_path / "mine.npz", images, [5, 9, 2, 6])
    notices = workspace(store, again).load_examples_file(open(tmp_path / "mine.npz", "rb"), "mine.npz")
    assert levels(notices) == ["success"] and "Added 4 examples from mine\\.npz" in notices[0].message
    assert [label for _, _, label in store.examples(visitor.ws)] == [3, 1, 5, 9, 2, 6]


@pytest.mark.parametrize("content, raised", [
    (b"not a zip at all", None), (b"PK\x03\x04" + b"\0" * 40, None),
    (b"", MemoryError("cannot allocate")), (b"", RuntimeError("anything else")),
])
def test_a_file_that_is_not_a_visitors_digits_is_a_message(store, monkeypatch, content, raised):
    import io

    from playground import workspace as workspace_module
    if raised is not None:
        def load_examples(file):
            raise raised
        monkeypatch.setattr(workspace_module, "load_examples", load_examples)
    visitor = Visitor()
    notices = workspace(store, visitor).load_examples_file(io.BytesIO(content), "digits_[1].npz")
    assert levels(notices) == ["warning"]
    assert "digits\\_\\[1\\]\\.npz cannot be read as your digits" in notices[0].message
    assert visitor.examples == [] and visitor.ws is None


# ------------------------------------------------------------------ copies, shares

def test_a_run_copied_again_says_where_it_is(store):
    owner = store.new_workspace()
    run, _ = store.add_run(owner, {})
    store.finish_run(run.id, a_result())
    token = store.share(owner, 1)
    viewer = Visitor()
    actions = workspace(store, viewer)
    actions.open(None, token)
    actions.copy_shared()
    actions.open(viewer.ws, token)
    assert actions.copy_shared() == [Notice("info", "This run is in your workspace already, as run #1.")]
    assert len(store.runs(viewer.ws)) == 1 and viewer.shared is None


def test_sharing_past_the_cap_says_to_unshare_one(store):
    visitor = Visitor(ws=store.new_workspace())
    for _ in range(MAX_SHARED + 1):
        stored, _ = store.add_run(visitor.ws, {})
        store.finish_run(stored.id, a_result())
    actions = workspace(store, visitor)
    actions.load_runs()
    assert all(actions.share_run(n, "http://host") == [] for n in range(1, MAX_SHARED + 1))
    notices = actions.share_run(MAX_SHARED + 1, "http://host")
    assert levels(notices) == ["warning"] and "Unshare one of them first" in notices[0].message
    assert levels(actions.unshare_run(1)) == ["success"] and 1 not in visitor.share_links
    assert actions.share_run(MAX_SHARED + 1, "http://host") == []


# ------------------------------------------------------------------ a result the store cannot take

class NoFinish:
    """The run store, refusing finish_run while ``failing`` (a full disk)."""

    def __init__(self, store: RunStore):
        self.store, self.failing = store, True

    def __getattr__(self, name):
        if name == "finish_run" and self.failing:
            def refuse(*args, **kwargs):
                raise StoreUnavailable("database or disk is full")
            return refuse
        return getattr(self.store, name)


def test_a_run_the_store_cannot_finish_is_unsaved_and_said_until_it_is_saved(store, monkeypatch):
    visitor, live, unsaved, seen = Visitor(ws=store.new_workspace()), {}, set(), {}
    stored, _ = store.add_run(visitor.ws, TrainConfig(epochs=1).to_dict())
    job, full = Job(TrainConfig(epochs=1)), NoFinish(store)
    live[stored.id] = job
    actions = Workspace(visitor, lambda: store, live, lambda run_id: None, unsaved)

    def look():
        seen["training"], seen["notices"] = actions.settle_runs()
        seen["status"] = visitor.run_list[0].status
    result = JobResult("completed", [0.5], [0.9], 0.2, "cpu", "here", checkpoint=b"model")
    script = {1: lambda: job.mark_running("cpu", "here", "training"), 2: lambda: job.add_epoch(report(1)),
              3: lambda: job.finish(result), 30: look, 60: lambda: setattr(full, "failing", False)}
    monkeypatch.setattr(recorder, "time", Clock(script))
    recorder.record(full, stored.id, job, live, unsaved)
    assert seen["status"] == "unsaved" and not seen["training"]
    assert [n.message for n in seen["notices"]] == ["Run #1 could not be saved: download it now (Compare runs, "
                                                    "Download). This server keeps it only until it stops."]
    assert not unsaved and not live and store.runs(visitor.ws)[0].status == "completed"
    training, notices = actions.settle_runs()
    assert notices == [] and visitor.run_list[0].status == "completed"


# ------------------------------------------------------------------ damaged rows

def test_a_damaged_run_is_left_out_with_a_message_once(store):
    visitor = Visitor(ws=store.new_workspace())
    for _ in range(3):
        stored, _ = store.add_run(visitor.ws, {})
        store.finish_run(stored.id, a_result())
    with store.engine.begin() as conn:
        conn.execute(runs_table.update().where(runs_table.c.number == 1).values(config="{not json"))
        conn.execute(runs_table.update().where(runs_table.c.number == 2).values(evaluation=b"torn"))
    actions = workspace(store, visitor)
    training, notices = actions.settle_runs()
    assert [n.message for n in notices] == [f"Run #{n} is damaged and cannot be shown." for n in (1, 2)]
    assert [r.number for r in visitor.run_list] == [3] and not training
    assert actions.settle_runs()[1] == [] and actions.load_runs() == []   # said once
    assert [r.number for r in visitor.run_list] == [3]


def test_a_damaged_checkpoint_leaves_the_run_out_and_the_page_uses_another(store):
    from mnist_core import EvalResult
    ev = EvalResult(0.9, 0.3, np.eye(10, dtype=np.int64), np.ones(10), np.zeros(0, np.int64), np.zeros(0, np.int64),
                    np.zeros(0, np.int64), np.zeros(0))
    visitor = Visitor(ws=store.new_workspace())
    for _ in range(2):
        stored, _ = store.add_run(visitor.ws, {})
        store.finish_run(stored.id, JobResult("completed", [0.5], [0.9], 0.2, "cpu", "here", checkpoint=b"m",
                                              evaluation=ev))
    damaged = store.runs(visitor.ws)[1].id

    def stored_model(run_id):
        if run_id == damaged:
            raise RuntimeError("PytorchStreamReader failed reading zip archive")
        return "a model"
    actions = Workspace(visitor, lambda: store, {}, stored_model)
    _, notices = actions.settle_runs()
    assert [n.message for n in notices] == ["Run #2 is damaged and cannot be shown."]
    assert actions.latest_finished().number == 1
    viewer = Visitor()
    notices = Workspace(viewer, lambda: store, {}, stored_model).open(None, store.share(visitor.ws, 2))
    assert viewer.shared is None and "damaged and cannot be shown" in notices[0].message


# ------------------------------------------------------------------ a restart

def test_trainings_lost_in_a_restart_are_one_line(store):
    visitor = Visitor(ws=store.new_workspace())
    for _ in range(MAX_RUNS):
        store.add_run(visitor.ws, {})                               # queued when the server stopped
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE runs SET updated = updated - 3600"))
    training, notices = workspace(store, visitor).settle_runs()
    assert not training and visitor.run_list == [] and store.runs(visitor.ws) == []
    assert [(n.level, n.message) for n in notices] == [
        ("info", f"{MAX_RUNS} trainings were lost when the server restarted before finishing an epoch; train "
                 "again for a model.")]


def a_dead_process() -> int:
    import subprocess
    import sys
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_run_whose_process_died_here_is_interrupted_at_once(store):
    dead, alive = Owner(socket.gethostname(), a_dead_process(), None), this_process()
    reused = Owner(alive.host, alive.pid, (alive.started or 0) - 100)  # its pid, given to a new process
    elsewhere = Owner("another-host", a_dead_process(), None)
    visitor = Visitor(ws=store.new_workspace())
    for owner in (dead, alive, reused, elsewhere):
        stored, _ = store.add_run(visitor.ws, {}, owner=owner)
        store.add_epoch(stored.id, report(1))                       # written a moment ago
        store.heartbeat(stored.id, status="running")
    actions = workspace(store, visitor)
    assert actions.load_runs() == []
    statuses = [r.status for r in visitor.run_list]
    assert statuses == ["interrupted", "running", "interrupted" if alive.started else "running", "running"]
    actions.settle_runs()
    assert [r.status for r in store.runs(visitor.ws)] == statuses   # marked at once, not after STALE_SECONDS


# ------------------------------------------------------------------ what a visitor is shown

def test_a_visitor_sees_no_database_address_and_no_worker_name(store, caplog):
    address = "connection to server at \"db.internal\" (10.0.0.7), port 5432 failed: database \"mnist\""

    def down():
        raise StoreUnavailable(address)
    visitor = Visitor()
    shown = []
    with caplog.at_level("WARNING"):
        shown += Workspace(visitor, down, {}, lambda run_id: None).open("A" * 22, "B" * 22)
        visitor.store_down, visitor.ws = False, "A" * 22
        shown += Workspace(visitor, down, {}, lambda run_id: None).load_runs()
        shown += Workspace(visitor, down, {}, lambda run_id: None).add_run(Job(TrainConfig()))[1]
        shown += Workspace(visitor, down, {}, lambda run_id: None).share_run(1, "http://host")
        shown += Workspace(visitor, down, {}, lambda run_id: None).add_examples(np.zeros((1, 28, 28)), [1])
    assert len(shown) == 6 and not any("db.internal" in n.message or "5432" in n.message for n in shown)
    assert all("unavailable right now" in n.message for n in shown)
    assert "db.internal" in caplog.text                             # for whoever runs the server

    owner = Visitor(ws=store.new_workspace())
    ran, _ = store.add_run(owner.ws, {})
    store.finish_run(ran.id, JobResult("completed", [0.5], [0.9], 0.2, "cpu", "vm (pid 6958), mnist-training-1"))
    ray, _ = store.add_run(owner.ws, {}, owner=this_process())
    store.finish_run(ray.id, JobResult("completed", [0.5], [0.9], 0.2, "cpu", "vm (pid 7), Ray node 1a2b3c4d"))
    here, _ = store.add_run(owner.ws, {}, owner=this_process())
    store.finish_run(here.id, JobResult("completed", [0.5], [0.9], 0.2, "cpu", "vm (pid 6958), mnist-training-1"))
    workspace(store, owner).load_runs()
    assert [r.worker for r in owner.run_list] == ["another server", "a Ray worker", "this server"]
    assert store.runs(owner.ws)[0].worker == "vm (pid 6958), mnist-training-1"   # kept for the log and the store
    copy, _ = store.copy_to_workspace(store.share(owner.ws, 3))
    assert copy.worker == "" and workspace(store).as_run(copy).worker == ""
