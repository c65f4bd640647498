"""The run store against a real SQLite file and a real PostgreSQL server (playground.store)."""

from __future__ import annotations

import io
import itertools
import multiprocessing
import secrets
import socket
import sys
import time
import types

import numpy as np
import pytest
import sqlalchemy as sa

from playground import schema
from playground import store as store_module
from playground.schema import SCHEMA_VERSION, checkpoints, runs_table
from playground.store import (
    ELSEWHERE, MAX_EXAMPLES, MAX_RUNS, MAX_SHARED, PRUNE_EVERY_SECONDS, SHIPPED_MODEL, AlreadyCopied, RunStore,
    StoreUnavailable, TooManyShared, UnknownWorkspace, schema_version, workspaces,
)
from mnist_core import TrainConfig, load_checkpoint
from mnist_core.jobs import JobResult
from mnist_core.train import EpochReport

_dbs = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runs.sqlite'}"
    base = request.getfixturevalue("postgres_server")
    name = f"runs_{next(_dbs)}"
    engine = sa.create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return f"{base}/{name}"


@pytest.fixture
def store(url):
    return RunStore(url)


@pytest.fixture(scope="module")
def result(mnist):
    """A real training's result: one epoch of the tutorial's model."""
    from mnist_core.jobs import run_training
    return run_training(TrainConfig(epochs=2, device="cpu"), mnist)


def report(epoch: int, cost: float = 0.5) -> EpochReport:
    return EpochReport(epoch, cost, 0.9, None, 0.1 * epoch, 2)


def test_a_run_round_trips(store, result):
    ws = store.new_workspace()
    run, let_go = store.add_run(ws, TrainConfig(epochs=2).to_dict())
    assert (run.number, run.status, let_go) == (1, "queued", [])
    store.heartbeat(run.id, status="running", device="cpu", worker="here")
    for epoch in (1, 1, 2):                                         # written twice: kept once
        store.add_epoch(run.id, EpochReport(epoch, result.epoch_costs[epoch - 1],
                                            result.test_accuracies[epoch - 1], None, 0.1, 2))
    assert [e["epoch"] for e in store.runs(ws)[0].epochs] == [1, 2] and store.runs(ws)[0].status == "running"
    store.finish_run(run.id, result)
    [back] = store.runs(ws)
    assert back.config == TrainConfig(epochs=2).to_dict() and back.status == "completed"
    assert [e["cost"] for e in back.epochs] == result.epoch_costs and back.has_checkpoint
    ev, want = back.evaluation, result.evaluation
    assert ev.accuracy == want.accuracy and ev.loss == want.loss
    for name in ("confusion", "per_class_accuracy", "mistake_indices", "mistake_true", "mistake_pred",
                 "mistake_confidence"):
        assert np.array_equal(getattr(ev, name), getattr(want, name)), name
    model, info = load_checkpoint(io.BytesIO(store.checkpoint(run.id)))
    assert model.registry_name == "linear" and info["config"].epochs == 2
    assert store.get_run(ws, 1).id == run.id and store.get_run(ws, 2) is None


def test_a_diverged_cost_is_stored(store):
    ws = store.new_workspace()
    run, _ = store.add_run(ws, {})
    store.add_epoch(run.id, report(1, float("nan")))
    assert np.isnan(store.runs(ws)[0].epochs[0]["cost"])


def test_workspaces_do_not_see_or_touch_each_other(store, result):
    a, b = store.new_workspace(), store.new_workspace()
    run, _ = store.add_run(a, {})
    store.finish_run(run.id, result)
    assert store.runs(b) == [] and store.get_run(b, 1) is None
    store.remove_run(b, 1)                                          # b's "run 1" is not a's
    assert [r.number for r in store.runs(a)] == [1]
    token = store.share(a, 1)
    assert token != a and store.shared_run(a) is None and store.shared_run(b) is None  # a workspace id is no token
    copy, let_go = store.copy_to_workspace(token, b)
    assert let_go == []
    assert copy.workspace == b and copy.share_token is None and store.checkpoint(copy.id) == store.checkpoint(run.id)
    store.remove_run(b, copy.number)
    assert [r.number for r in store.runs(a)] == [1] and store.shared_run(token).id == run.id
    fresh, _ = store.copy_to_workspace(token)                       # a viewer without a workspace gets one
    assert fresh.workspace not in (a, b) and [r.number for r in store.runs(fresh.workspace)] == [1]
    def count() -> int:
        with store.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(workspaces)).scalar()
    before = count()
    with pytest.raises(UnknownWorkspace):
        store.copy_to_workspace("A" * 22)                           # no run there: no workspace made for it
    assert count() == before


@pytest.mark.parametrize("text", ["A" * 22, "a-b_" * 5 + "Z9"])
def test_valid_id_accepts_the_ids_the_store_makes(text):
    assert RunStore.valid_id(text)
    assert all(RunStore.valid_id(secrets.token_urlsafe(16)) for _ in range(100))  # ids as the store makes them


@pytest.mark.parametrize("text", [
    "x' OR '1'='1' --".ljust(22, "a"),     # SQL, markup and a path, each as long as an id
    "<b>x</b><script>".ljust(22, "a"),
    "../../etc/passwd".ljust(22, "a"),
    "A" * 21 + "=", "A" * 21 + " ", "A" * 21 + "\n", "A" * 21, "A" * 23, "", None, 42, b"A" * 22, ["A" * 22],
])
def test_valid_id_refuses_anything_else(text):
    assert not RunStore.valid_id(text)


def test_a_copy_that_fails_halfway_leaves_no_half_made_run(store):
    owner, viewer = store.new_workspace(), store.new_workspace()
    run, _ = store.add_run(owner, {"lr": 0.5})
    store.add_epoch(run.id, report(1))
    store.heartbeat(run.id, status="stopped")
    token = store.share(owner, 1)

    def workspaces_count() -> int:
        with store.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(workspaces)).scalar()
    before = workspaces_count()

    def fail_the_copys_own_values(conn, cursor, statement, *_):  # the step after the copy's row is made
        if statement.lstrip().upper().startswith("UPDATE RUNS"):
            raise sa.exc.OperationalError(statement, {}, OSError("disk I/O error"))
    sa.event.listen(store.engine, "before_cursor_execute", fail_the_copys_own_values)
    for ws in (viewer, None):                                       # into a workspace; into a new one
        with pytest.raises(StoreUnavailable, match="disk I/O error"):
            store.copy_to_workspace(token, ws)
    sa.event.remove(store.engine, "before_cursor_execute", fail_the_copys_own_values)
    assert store.runs(viewer) == [] and workspaces_count() == before
    copy, _ = store.copy_to_workspace(token, viewer)
    assert (copy.number, copy.status, [e["epoch"] for e in copy.epochs]) == (1, "stopped", [1])


def test_a_share_token_is_stable_and_ends_with_its_run(store, result):
    ws = store.new_workspace()
    run, _ = store.add_run(ws, {})
    store.finish_run(run.id, result)
    token = store.share(ws, 1)
    assert store.share(ws, 1) == token and store.shared_run(token).number == 1
    with pytest.raises(UnknownWorkspace):
        store.share(ws, 2)
    store.remove_run(ws, 1)
    assert store.shared_run(token) is None


def test_numbers_are_never_reused_and_the_oldest_unshared_finished_runs_go(store, result):
    ws = store.new_workspace()
    first, _ = store.add_run(ws, {})
    store.finish_run(first.id, result)
    store.share(ws, 1)                                              # shared: kept
    store.add_run(ws, {})                                           # #2 still training: kept
    let_go = []
    for _ in range(MAX_RUNS):
        run, gone = store.add_run(ws, {})
        store.finish_run(run.id, result)
        let_go += gone
    numbers = [r.number for r in store.runs(ws)]
    assert let_go == [3, 4] and len(numbers) == MAX_RUNS
    assert numbers[:3] == [1, 2, 5] and numbers[-1] == MAX_RUNS + 2
    store.remove_run(ws, MAX_RUNS + 2)
    assert store.add_run(ws, {})[0].number == MAX_RUNS + 3         # a removed run's number is not given again
    other = store.new_workspace()
    run, _ = store.add_run(other, {})
    store.finish_run(run.id, result)
    copy, gone = store.copy_to_workspace(store.share(other, 1), ws)  # a copy counts too, and says what went
    assert gone == [5] and copy.number == MAX_RUNS + 4


def test_prune_removes_unseen_workspaces_with_their_shared_runs(store, result):
    old, fresh = store.new_workspace(), store.new_workspace()
    for ws in (old, fresh):
        for _ in range(2):
            run, _ = store.add_run(ws, {})
            store.finish_run(run.id, result)
    token, kept = store.share(old, 2), store.share(fresh, 1)
    store.add_examples(old, np.zeros((3, 28, 28), np.uint8), [1, 2, 3])
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE workspaces SET last_seen = :t WHERE id = :ws"),
                     {"t": time.time() - 31 * 86400, "ws": old})
    assert store.prune(keep_days=30) == 2
    assert not store.has_workspace(old) and store.runs(old) == [] and store.examples(old) == []
    assert store.shared_run(token) is None                          # a link lasts as long as its owner's workspace
    assert store.shared_run(kept).number == 1 and len(store.runs(fresh)) == 2
    assert store.prune(keep_days=30) == 0


def test_a_sqlite_store_made_before_version_3_keeps_everything_and_never_reuses_an_id(tmp_path, result):
    """Its tables made without AUTOINCREMENT (examples as version 2 made them), its upgrade to version 3 cut
    short once (a half-made copy of the runs table left behind): opened, every run and example is there, and a
    removed one's id is never given to a new one."""
    url = f"sqlite:///{tmp_path / 'runs.sqlite'}"
    ws, blob = v1_database(url, result)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE examples (id INTEGER NOT NULL PRIMARY KEY, workspace VARCHAR(32) NOT "
                             "NULL, image BLOB NOT NULL, label INTEGER NOT NULL, created FLOAT NOT NULL)"))
        schema.UPGRADES[2](conn)
        conn.execute(schema_version.update().values(version=2))
        for label in (4, 5):
            conn.execute(sa.text("INSERT INTO examples (workspace, image, label, created) VALUES (:ws, :image, "
                                 ":label, 0)"), {"ws": ws, "image": bytes(28 * 28), "label": label})
        conn.execute(sa.text("CREATE TABLE runs_v3 AS SELECT * FROM runs WHERE number = 1"))  # cut short
    engine.dispose()
    store = RunStore(url)
    runs = store.runs(ws)
    assert [(r.number, r.status) for r in runs] == [(1, "completed"), (2, "completed")]
    assert store.shared_run("T" * 22).number == 1 and store.checkpoint(runs[1].id) == blob
    [(_, _, _), (drawn, _, _)] = store.examples(ws)
    store.remove_run(ws, 2), store.remove_example(ws, drawn)         # the newest of each: the highest ids
    assert store.add_run(ws, {})[0].id != runs[1].id
    assert store.add_examples(ws, np.zeros((1, 28, 28)), [6])[1] != [drawn]
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(schema_version.c.version)).scalar_one() == SCHEMA_VERSION
        assert sorted(sa.inspect(conn).get_table_names()) == sorted(schema.meta.tables)
        for table in (runs_table, schema.examples_table):
            assert {i["name"] for i in sa.inspect(conn).get_indexes(table.name)} == {i.name for i in table.indexes}


def test_a_newer_schema_is_refused_with_a_message(url):
    RunStore(url)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(schema_version.update().values(version=99))
    engine.dispose()
    with pytest.raises(StoreUnavailable, match="newer than this page"):
        RunStore(url)


def test_reopening_keeps_runs(url):
    ws = RunStore(url).new_workspace()
    RunStore(url).add_run(ws, {"lr": 0.5})
    assert RunStore(url).runs(ws)[0].config == {"lr": 0.5}


def test_an_unreachable_database_is_store_unavailable(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(StoreUnavailable):
        RunStore(f"postgresql+psycopg://nobody@127.0.0.1:{port}/runs")
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(StoreUnavailable):
        RunStore(f"sqlite:///{tmp_path / 'file' / 'runs.sqlite'}")


def test_a_full_database_is_store_unavailable_and_damages_nothing(tmp_path, result):
    url = f"sqlite:///{tmp_path / 'runs.sqlite'}"
    store = RunStore(url)
    ws = store.new_workspace()
    run, _ = store.add_run(ws, {})
    store.add_epoch(run.id, report(1))
    with store.engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
    store.engine.dispose()
    sa.event.listen(store.engine, "connect",
                    lambda dbapi_conn, _: dbapi_conn.execute(f"PRAGMA max_page_count = {pages}"))
    with pytest.raises(StoreUnavailable, match="full"):
        store.finish_run(run.id, result)                            # the checkpoint does not fit
    [back] = RunStore(url).runs(ws)
    assert back.status == "queued" and [e["epoch"] for e in back.epochs] == [1] and not back.has_checkpoint


def _writer(url: str, ws: str, count: int) -> None:
    store = RunStore(url)
    for _ in range(count):
        run, _ = store.add_run(ws, {})
        for epoch in (1, 2):
            store.add_epoch(run.id, report(epoch))


def test_two_processes_writing_one_sqlite_file_lose_no_run(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'runs.sqlite'}"
    ws = RunStore(url).new_workspace()
    # A spawned child first re-runs the parent's __main__ file; after a page test that is AppTest's generated
    # script, which fails outside AppTest. A __main__ without a file is not re-run.
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(url, ws, 40)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    runs = RunStore(url).runs(ws)
    assert sorted(r.number for r in runs) == list(range(1, 81))    # queued runs are never let go
    assert all([e["epoch"] for e in r.epochs] == [1, 2] for r in runs)


def blobs(store) -> int:
    with store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(checkpoints)).scalar()


def test_copies_share_one_checkpoint_that_goes_with_its_last_run(store, result):
    owner = store.new_workspace()
    run, _ = store.add_run(owner, {})
    store.finish_run(run.id, result)
    token = store.share(owner, 1)
    viewers = [store.copy_to_workspace(token)[0] for _ in range(20)]  # 20 viewers, a copy each
    assert blobs(store) == 1 and all(store.checkpoint(c.id) == store.checkpoint(run.id) for c in viewers)
    for copy in viewers:
        store.remove_run(copy.workspace, copy.number)
    assert blobs(store) == 1                                        # the source still names it
    store.remove_run(owner, 1)
    assert blobs(store) == 0


def test_a_run_is_copied_once_into_a_workspace(store, result):
    owner, viewer = store.new_workspace(), store.new_workspace()
    run, _ = store.add_run(owner, {})
    store.finish_run(run.id, result)
    token = store.share(owner, 1)
    copy, _ = store.copy_to_workspace(token, viewer)
    with pytest.raises(AlreadyCopied) as again:
        store.copy_to_workspace(token, viewer)
    assert again.value.number == copy.number and len(store.runs(viewer)) == 1
    with pytest.raises(AlreadyCopied) as own:
        store.copy_to_workspace(token, owner)                       # the owner's own run
    assert own.value.number == 1 and len(store.runs(owner)) == 1


def test_a_fine_tune_keeps_its_source_and_a_copy_of_one_only_that_it_is_one(store, result):
    owner, viewer = store.new_workspace(), store.new_workspace()
    for tuned_from in (None, 1, SHIPPED_MODEL):
        run, _ = store.add_run(owner, {}, tuned_from=tuned_from)
        assert run.tuned_from == tuned_from
        store.finish_run(run.id, result)
    assert [r.tuned_from for r in store.runs(owner)] == [None, 1, SHIPPED_MODEL]
    copies = [store.copy_to_workspace(store.share(owner, n), viewer)[0] for n in (1, 2, 3)]
    assert [c.tuned_from for c in copies] == [None, ELSEWHERE, ELSEWHERE]  # the viewer's #1 is not the source


def test_a_workspace_shares_at_most_max_shared_runs_and_can_unshare(store):
    ws = store.new_workspace()
    for _ in range(MAX_SHARED + 1):
        store.add_run(ws, {})
    tokens = [store.share(ws, n) for n in range(1, MAX_SHARED + 1)]
    with pytest.raises(TooManyShared):
        store.share(ws, MAX_SHARED + 1)
    assert store.share(ws, 1) == tokens[0]                          # sharing a shared run again is no new share
    store.unshare(ws, 1)
    assert store.shared_run(tokens[0]) is None
    assert store.shared_run(store.share(ws, MAX_SHARED + 1)).number == MAX_SHARED + 1


def test_a_damaged_row_costs_its_run_only(store, result):
    ws = store.new_workspace()
    for _ in range(3):
        run, _ = store.add_run(ws, {"lr": 0.1})
        store.finish_run(run.id, result)
    with store.engine.begin() as conn:
        conn.execute(runs_table.update().where(runs_table.c.number == 1).values(config="{not json"))
        conn.execute(runs_table.update().where(runs_table.c.number == 2).values(evaluation=b"PK\x03\x04 torn"))
    runs = store.runs(ws)
    assert [(r.number, r.damaged) for r in runs] == [(1, True), (2, True), (3, False)]
    assert runs[2].config == {"lr": 0.1} and runs[2].evaluation.accuracy == result.evaluation.accuracy


def test_a_removed_runs_id_is_never_given_to_another(store):
    """A run removed while its recorder still writes (stopped with nothing to keep, removed on another page):
    its id never names a later run, so the late writes reach nothing, as they did before its removal. (SQLite
    gave a new row the highest id in use plus one: the next run took the removed one's id and its status.)"""
    ws = store.new_workspace()
    store.add_run(ws, {})
    gone, _ = store.add_run(ws, {})                                 # the newest, so the highest id in use
    store.remove_run(ws, gone.number)
    new, _ = store.add_run(ws, {"lr": 0.001})
    assert new.id != gone.id
    assert not store.heartbeat(gone.id, status="stopped") and not store.add_epoch(gone.id, report(1))
    store.finish_run(gone.id, JobResult.never_started())            # what the removed run's recorder writes last
    assert [(r.number, r.status, r.epochs) for r in store.runs(ws)][1:] == [(3, "queued", [])]
    image = np.zeros((1, 28, 28), np.uint8)
    _, [kept] = store.add_examples(ws, image, [1])
    _, [drawn] = store.add_examples(ws, image, [2])
    store.remove_example(ws, drawn)
    _, [redrawn] = store.add_examples(ws, image, [3])
    store.remove_example(ws, drawn)                                 # a second tab's click on the removed one
    assert redrawn != drawn and [label for _, _, label in store.examples(ws)] == [1, 3]


def test_examples_are_kept_with_their_workspace_up_to_the_cap(store):
    images = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    ws, ids = store.add_examples(None, images, [7, 8, 9])          # the first one makes the workspace
    assert store.has_workspace(ws) and len(ids) == 3
    back = store.examples(ws)
    assert [label for _, _, label in back] == [7, 8, 9] and np.array_equal(back[1][1], images[1])
    store.remove_example(ws, ids[1])
    assert [label for _, _, label in store.examples(ws)] == [7, 9]
    many = np.zeros((MAX_EXAMPLES, 28, 28), np.uint8)
    assert len(store.add_examples(ws, many, [0] * MAX_EXAMPLES)[1]) == MAX_EXAMPLES - 2
    assert store.add_examples(ws, many[:1], [0])[1] == [] and len(store.examples(ws)) == MAX_EXAMPLES
    assert store.examples(store.new_workspace()) == []


def test_pruning_runs_at_most_once_an_hour_from_the_calls_a_visit_makes(store, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(store_module.time, "monotonic", lambda: clock[0])
    pruned = []
    monkeypatch.setattr(store, "prune", lambda keep_days=None: pruned.append(keep_days) or 0)
    ws = store.new_workspace()
    for _ in range(50):
        store.touch(ws)
        store.shared_run("A" * 22)
    assert pruned == [30]
    clock[0] += PRUNE_EVERY_SECONDS + 1
    store.add_run(ws, {})
    assert pruned == [30, 30]


def v1_database(url: str, result) -> tuple[str, bytes]:
    """A store as version 1 made it: a workspace with a run, its checkpoint in its row, and a copy of it."""
    engine = sa.create_engine(url)
    ws, now = "W" * 22, time.time()
    with engine.begin() as conn:
        schema.meta.create_all(conn, tables=[schema_version])
        schema._create_v1(conn)
        conn.execute(schema_version.insert().values(version=1))
        conn.execute(workspaces.insert().values(id=ws, created=now, last_seen=now, last_number=2))
        for number in (1, 2):
            conn.execute(sa.text(
                "INSERT INTO runs (workspace, number, config, status, train_seconds, device, worker, checkpoint, "
                "has_checkpoint, share_token, created, updated) VALUES (:ws, :n, '{\"lr\": 0.1}', 'completed', 1.5, "
                "'cpu', 'vm (pid 1), mnist-training-1', :blob, :yes, :token, :now, :now)"),
                {"ws": ws, "n": number, "blob": result.checkpoint, "yes": True, "now": now,
                 "token": "T" * 22 if number == 1 else None})
    engine.dispose()
    return ws, result.checkpoint


def test_a_version_1_store_is_upgraded_and_keeps_its_runs(url, result):
    ws, blob = v1_database(url, result)
    store = RunStore(url)
    runs = store.runs(ws)
    assert [(r.number, r.config, r.status, r.has_checkpoint) for r in runs] == [
        (1, {"lr": 0.1}, "completed", True), (2, {"lr": 0.1}, "completed", True)]
    assert store.checkpoint(runs[0].id) == blob == store.checkpoint(runs[1].id) and blobs(store) == 1
    assert [r.tuned_from for r in runs] == [None, None]              # no run said what it fine-tuned
    assert store.shared_run("T" * 22).number == 1 and store.add_run(ws, {})[0].number == 3
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(schema_version.c.version)).scalars().all() == [SCHEMA_VERSION]
        assert "checkpoint" not in {c["name"] for c in sa.inspect(conn).get_columns("runs")}
    assert RunStore(url).runs(ws)[0].number == 1                    # opened again: nothing to upgrade
