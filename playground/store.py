"""The run store: every workspace's runs, durable and linkable (SQLAlchemy; SQLite by default, PostgreSQL by URL).

A run is written as it trains: created when submitted, each epoch as it ends,
then its result (evaluation and checkpoint). A workspace is a random id the
page keeps in its address, made when a visitor first keeps something (a run, a
copy, a drawn example); a shared run gets a token of its own, so a share link
never gives away the workspace. Checkpoints are kept once per content, however
many copies name them. The schema (playground.schema) is created and upgraded
here. Any database failure is a :class:`StoreUnavailable`, whose message is
for the server's log (it may name the database's host); every write is one
transaction, so a failure damages nothing already stored. Unseen workspaces
go, with everything in them, at most once an hour (:meth:`RunStore.prune_if_due`).
"""

from __future__ import annotations

import functools
import io
import json
import logging
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError

from mnist_core import EvalResult
from playground.owner import Owner
from playground.schema import (
    SCHEMA_VERSION, UPGRADES, checkpoints, epochs_table, examples_table, meta, put_checkpoint, runs_table,
    schema_version, workspaces,
)

MAX_RUNS = 20      # runs kept per workspace (the oldest unshared finished ones go first)
MAX_SHARED = 10    # runs a workspace shares at once (they last as long as the workspace)
MAX_EXAMPLES = 200  # drawn handwriting examples kept per workspace (three rounds of ten digits is 30)
KEEP_DAYS = 30     # default of MNIST_KEEP_DAYS
PRUNE_EVERY_SECONDS = 3600
SHIPPED_MODEL = 0  # StoredRun.tuned_from of a fine-tune of the model shipped with the project
ELSEWHERE = -1     # StoredRun.tuned_from of a copy of a fine-tune: its source's number is the owner's workspace's
ENDED = ("completed", "stopped", "diverged", "failed", "interrupted")
_ID = re.compile(r"[A-Za-z0-9_-]{22}")  # secrets.token_urlsafe(16): 128 random bits
log = logging.getLogger(__name__)


class StoreUnavailable(RuntimeError):
    """The database cannot be reached or written (unreachable, full, read-only); the message is for the page."""


class UnknownWorkspace(ValueError):
    """A malformed or unknown workspace id, run or share token; the message is for the page."""


class AlreadyCopied(ValueError):
    """The shared run is in the workspace already (copied before, or its own): as run ``number``."""

    def __init__(self, number: int):
        super().__init__(f"already copied as run #{number}")
        self.number = number


class TooManyShared(ValueError):
    """The workspace shares MAX_SHARED runs already."""


@dataclass
class StoredRun:
    id: int                      # database id (unique across workspaces)
    workspace: str
    number: int                  # 1, 2, ... within its workspace; never reused there
    config: dict                 # dataclasses.asdict(TrainConfig)
    status: str                  # queued | running | completed | stopped | diverged | failed | interrupted
    epochs: list[dict] = field(default_factory=list)  # {"epoch", "cost", "test_accuracy", "val_accuracy", "seconds"}
    train_seconds: float = 0.0
    device: str = ""
    worker: str = ""
    message: str | None = None
    evaluation: EvalResult | None = None
    has_checkpoint: bool = False
    share_token: str | None = None
    created: datetime | None = None
    updated: datetime | None = None  # last write (epochs, heartbeat, finish): tells a live run from an orphan
    owner: Owner | None = None       # the server process that records it (None: not known)
    damaged: bool = False            # a part of its row cannot be read: only its number, workspace and status are
    tuned_from: int | None = None    # a fine-tune's source: run number (this workspace), SHIPPED_MODEL or ELSEWHERE;
                                     # None: an ordinary training


def _guarded(method):
    """Database failures become StoreUnavailable, in one line the page can show."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except SQLAlchemyError as exc:
            cause = getattr(exc, "orig", None) or exc
            text = str(cause).strip().splitlines()[0] if str(cause).strip() else cause.__class__.__name__
            raise StoreUnavailable(text[:200]) from None
    return wrapper


def kept_days() -> int:
    """How long an unseen workspace is kept: MNIST_KEEP_DAYS, else KEEP_DAYS; ValueError, in words, for a value
    that is not a whole number of days."""
    raw = os.environ.get("MNIST_KEEP_DAYS", "").strip()
    if not raw:
        return KEEP_DAYS
    try:
        days = int(raw)
    except ValueError:
        days = -1
    if days < 0:
        raise ValueError(f"MNIST_KEEP_DAYS must be a whole number of days, 0 or more, not {raw!r}")
    return days


def keep_days() -> int:
    """Days an unseen workspace is kept: MNIST_KEEP_DAYS, else (also when it is not a number of days, which the
    page says once per visitor) KEEP_DAYS."""
    try:
        return kept_days()
    except ValueError:
        return KEEP_DAYS


def default_url() -> str:
    url = os.environ.get("MNIST_DB_URL")
    if url:
        return url
    folder = Path(os.environ.get("MNIST_STATE_DIR") or "MNIST_state")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreUnavailable(f"cannot make the state folder {folder}: {exc.strerror}") from None
    return f"sqlite:///{folder.resolve() / 'runs.sqlite'}"


class RunStore:
    """Runs by workspace. Thread-safe: one engine, one short transaction per call."""

    def __init__(self, url: str | None = None):
        self.url = url or default_url()
        try:
            self.engine = self._engine(self.url)
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise StoreUnavailable(f"cannot use the database URL: {exc}") from None
        self._upgrade()
        self._pruned_at: float | None = None  # time.monotonic() of this process's last prune
        self._prune_lock = threading.Lock()

    @staticmethod
    def _engine(url: str) -> sa.Engine:
        if url.startswith("sqlite"):
            engine = sa.create_engine(url, connect_args={"timeout": 30})

            @event.listens_for(engine, "connect")
            def _pragmas(dbapi_conn, _record):
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer; several processes
                cur.execute("PRAGMA busy_timeout=30000")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.close()
            return engine
        connect_args = {"connect_timeout": 5} if url.startswith("postgresql") else {}
        return sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args)

    @_guarded
    def _upgrade(self) -> None:
        for attempt in range(3):  # two processes starting at once: one creates, the other sees it created
            try:
                return self._upgrade_once()
            except SQLAlchemyError:
                if attempt == 2:
                    raise
                time.sleep(0.5)

    def _upgrade_once(self) -> None:
        with self.engine.begin() as conn:
            meta.create_all(conn, tables=[schema_version])
            found = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar()
        if found is not None and found > SCHEMA_VERSION:
            raise StoreUnavailable(f"the run store's schema is version {found}, newer than this page's "
                                   f"({SCHEMA_VERSION}): upgrade the page")
        for version in range((found or 0) + 1, SCHEMA_VERSION + 1):
            with self.engine.begin() as conn:
                UPGRADES[version](conn)
                if version == 1:
                    conn.execute(schema_version.insert().values(version=1))
                else:
                    conn.execute(schema_version.update().values(version=version))

    # ------------------------------------------------------------------ workspaces
    @staticmethod
    def valid_id(ws: str) -> bool:
        return isinstance(ws, str) and _ID.fullmatch(ws) is not None

    @_guarded
    def new_workspace(self) -> str:
        with self.engine.begin() as conn:
            return self._new_workspace(conn)

    @staticmethod
    def _new_workspace(conn) -> str:
        ws, now = secrets.token_urlsafe(16), time.time()
        conn.execute(workspaces.insert().values(id=ws, created=now, last_seen=now, last_number=0))
        return ws

    @_guarded
    def has_workspace(self, ws: str) -> bool:
        if not self.valid_id(ws):
            return False
        with self.engine.connect() as conn:
            return conn.execute(sa.select(workspaces.c.id).where(workspaces.c.id == ws)).first() is not None

    @_guarded
    def touch(self, ws: str) -> None:
        """Note that ``ws`` was seen now (made, when a valid id is not there yet)."""
        self._check(ws)
        now = time.time()
        with self.engine.begin() as conn:
            if not conn.execute(workspaces.update().where(workspaces.c.id == ws).values(last_seen=now)).rowcount:
                conn.execute(workspaces.insert().values(id=ws, created=now, last_seen=now, last_number=0))
        self.prune_if_due()

    def _check(self, ws: str) -> None:
        if not self.valid_id(ws):
            raise UnknownWorkspace("not a workspace id")

    # ------------------------------------------------------------------ runs
    @_guarded
    def add_run(self, ws: str | None, config: dict, owner: Owner | None = None,
                tuned_from: int | None = None) -> tuple[StoredRun, list[int]]:
        """A new run (queued) in ``ws``, or in a new workspace (see ``StoredRun.workspace``), recorded by
        ``owner``, fine-tuning ``tuned_from`` (see ``StoredRun.tuned_from``); the numbers of the runs let go to
        keep MAX_RUNS."""
        if ws is not None:
            self._check(ws)
        with self.engine.begin() as conn:
            run_id, let_go = self._add_run(conn, ws or self._new_workspace(conn), config, owner, tuned_from)
            stored = self._runs(conn, only=run_id)[0], let_go
        self.prune_if_due()
        return stored

    def _add_run(self, conn, ws: str, config: dict, owner: Owner | None = None,
                 tuned_from: int | None = None) -> tuple[int, list[int]]:
        now = time.time()
        # the update takes the workspace's row lock first: two processes never get the same number
        bumped = conn.execute(workspaces.update().where(workspaces.c.id == ws)
                              .values(last_number=workspaces.c.last_number + 1, last_seen=now)).rowcount
        if not bumped:
            raise UnknownWorkspace("no such workspace")
        number = conn.execute(sa.select(workspaces.c.last_number).where(workspaces.c.id == ws)).scalar_one()
        run_id = conn.execute(runs_table.insert().values(
            workspace=ws, number=number, config=json.dumps(config), status="queued", train_seconds=0.0,
            device="", worker="", has_checkpoint=False, created=now, updated=now,
            host=owner.host if owner else "", pid=owner.pid if owner else None,
            pid_started=owner.started if owner else None, tuned_from=tuned_from)).inserted_primary_key[0]
        return run_id, self._cap(conn, ws)

    def _cap(self, conn, ws: str) -> list[int]:
        rows = conn.execute(sa.select(runs_table.c.id, runs_table.c.number, runs_table.c.status,
                                      runs_table.c.share_token)
                            .where(runs_table.c.workspace == ws).order_by(runs_table.c.number)).all()
        excess = len(rows) - MAX_RUNS
        gone = [r for r in rows if r.status in ENDED and r.share_token is None][:max(excess, 0)]
        self._delete(conn, [r.id for r in gone])
        return [r.number for r in gone]

    @staticmethod
    def _delete(conn, ids: list[int]) -> None:
        """Remove runs, and the checkpoints no run names any more."""
        if not ids:
            return
        shas = set(conn.execute(sa.select(runs_table.c.checkpoint_sha).where(
            runs_table.c.id.in_(ids), runs_table.c.checkpoint_sha.is_not(None))).scalars())
        conn.execute(epochs_table.delete().where(epochs_table.c.run.in_(ids)))
        conn.execute(runs_table.delete().where(runs_table.c.id.in_(ids)))
        if shas:
            named = sa.select(runs_table.c.id).where(runs_table.c.checkpoint_sha == checkpoints.c.sha256)
            conn.execute(checkpoints.delete().where(checkpoints.c.sha256.in_(shas), ~named.exists()))

    @_guarded
    def heartbeat(self, run_id: int, status: str | None = None, device: str | None = None,
                  worker: str | None = None) -> bool:
        """The run is alive (with its status, device and worker when given); False when it was removed."""
        values = {"updated": time.time()}
        values.update({k: v for k, v in (("status", status), ("device", device), ("worker", worker)) if v})
        with self.engine.begin() as conn:
            return conn.execute(runs_table.update().where(runs_table.c.id == run_id).values(**values)).rowcount > 0

    @_guarded
    def mark_interrupted(self, run_ids: list[int], quiet_since: float) -> None:
        """Mark runs left mid-training by a server that stopped as interrupted (their epochs are kept): those of
        ``run_ids`` still queued or running and not written since ``quiet_since`` (a time.time()), so a run whose
        recorder has written meanwhile keeps its status."""
        if not run_ids:
            return
        with self.engine.begin() as conn:
            conn.execute(runs_table.update().where(runs_table.c.id.in_(run_ids), runs_table.c.status.not_in(ENDED),
                                                   runs_table.c.updated < quiet_since)
                         .values(status="interrupted", updated=time.time()))

    @_guarded
    def add_epoch(self, run_id: int, report) -> bool:
        """One epoch's report (idempotent per run and epoch); nothing for a run that was removed (False)."""
        with self.engine.begin() as conn:
            return self._add_epochs(conn, run_id, [report])

    def _add_epochs(self, conn, run_id: int, reports) -> bool:
        if conn.execute(runs_table.update().where(runs_table.c.id == run_id)
                        .values(updated=time.time())).rowcount == 0:
            return False  # removed meanwhile
        have = set(conn.execute(sa.select(epochs_table.c.epoch).where(epochs_table.c.run == run_id)).scalars())
        rows = [dict(run=run_id, epoch=r.epoch, cost=_finite(r.cost), test_accuracy=r.test_accuracy,
                     val_accuracy=r.val_accuracy, seconds=r.seconds) for r in reports if r.epoch not in have]
        if rows:
            conn.execute(epochs_table.insert(), rows)
        return True

    @_guarded
    def finish_run(self, run_id: int, result) -> None:
        """The run's result (a mnist_core.jobs.JobResult), with any epochs not written yet."""
        with self.engine.begin() as conn:
            reports = [_Epoch(i + 1, c, a, None, result.train_seconds)
                       for i, (c, a) in enumerate(zip(result.epoch_costs, result.test_accuracies))]
            self._add_epochs(conn, run_id, reports)
            if conn.execute(sa.select(runs_table.c.id).where(runs_table.c.id == run_id)).first() is None:
                return  # removed meanwhile: its checkpoint is not kept for nobody
            sha = put_checkpoint(conn, result.checkpoint) if result.checkpoint is not None else None
            conn.execute(runs_table.update().where(runs_table.c.id == run_id).values(
                status=result.status, train_seconds=result.train_seconds, device=result.device or "",
                worker=result.worker or "", message=result.message,
                evaluation=_pack(result.evaluation) if result.evaluation is not None else None,
                checkpoint_sha=sha, has_checkpoint=sha is not None, updated=time.time()))

    @_guarded
    def runs(self, ws: str) -> list[StoredRun]:
        """The workspace's runs in order, without their checkpoints (see :meth:`checkpoint`); a run whose row
        cannot be read comes ``damaged``."""
        if not self.valid_id(ws):
            return []
        with self.engine.connect() as conn:
            return self._runs(conn, ws)

    @staticmethod
    def _runs(conn, ws: str | None = None, only: int | None = None, token: str | None = None) -> list[StoredRun]:
        query = sa.select(runs_table).order_by(runs_table.c.number)
        if ws is not None:
            query = query.where(runs_table.c.workspace == ws)
        if only is not None:
            query = query.where(runs_table.c.id == only)
        if token is not None:
            query = query.where(runs_table.c.share_token == token)
        rows = conn.execute(query).all()
        ids = [r.id for r in rows]
        epochs: dict[int, list[dict]] = {i: [] for i in ids}
        if ids:
            for e in conn.execute(sa.select(epochs_table).where(epochs_table.c.run.in_(ids))
                                  .order_by(epochs_table.c.run, epochs_table.c.epoch)):
                epochs[e.run].append(dict(epoch=e.epoch, cost=e.cost if e.cost is not None else float("nan"),
                                          test_accuracy=e.test_accuracy, val_accuracy=e.val_accuracy,
                                          seconds=e.seconds))
        return [_stored(r, epochs[r.id]) for r in rows]

    @_guarded
    def get_run(self, ws: str, number: int) -> StoredRun | None:
        if not self.valid_id(ws):
            return None
        with self.engine.connect() as conn:
            return next((r for r in self._runs(conn, ws) if r.number == number), None)

    @_guarded
    def checkpoint(self, run_id: int) -> bytes | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(checkpoints.c.data).join_from(
                runs_table, checkpoints, runs_table.c.checkpoint_sha == checkpoints.c.sha256)
                .where(runs_table.c.id == run_id)).scalar()

    @_guarded
    def remove_run(self, ws: str, number: int) -> None:
        """Remove run ``number`` of ``ws`` (its share link stops working); another workspace's runs are never
        touched."""
        self._check(ws)
        with self.engine.begin() as conn:
            ids = conn.execute(sa.select(runs_table.c.id).where(runs_table.c.workspace == ws,
                                                                runs_table.c.number == number)).scalars().all()
            self._delete(conn, list(ids))

    # ------------------------------------------------------------------ sharing
    @_guarded
    def share(self, ws: str, number: int) -> str:
        """The run's read-only token (the same one when shared again); TooManyShared when the workspace shares
        MAX_SHARED runs already."""
        self._check(ws)
        where = (runs_table.c.workspace == ws) & (runs_table.c.number == number)
        with self.engine.begin() as conn:
            # the workspace's row lock first: two tabs sharing at once never pass the cap together
            conn.execute(workspaces.update().where(workspaces.c.id == ws).values(last_seen=time.time()))
            row = conn.execute(sa.select(runs_table.c.share_token).where(where)).first()
            if row is None:
                raise UnknownWorkspace(f"no run #{number} in this workspace")
            if row.share_token:
                return row.share_token
            shared = conn.execute(sa.select(sa.func.count()).where(runs_table.c.workspace == ws,
                                                                   runs_table.c.share_token.is_not(None))).scalar()
            if shared >= MAX_SHARED:
                raise TooManyShared(f"a workspace shares at most {MAX_SHARED} runs")
            token = secrets.token_urlsafe(16)
            conn.execute(runs_table.update().where(where).values(share_token=token))
            return token

    @_guarded
    def unshare(self, ws: str, number: int) -> None:
        """Run ``number``'s share link stops working (sharing it again makes a new one)."""
        self._check(ws)
        with self.engine.begin() as conn:
            conn.execute(runs_table.update().where(runs_table.c.workspace == ws, runs_table.c.number == number)
                         .values(share_token=None))

    @_guarded
    def shared_run(self, token: str) -> StoredRun | None:
        if not self.valid_id(token):
            return None
        with self.engine.connect() as conn:
            found = self._runs(conn, token=token)
        self.prune_if_due()
        return found[0] if found else None

    @_guarded
    def copy_to_workspace(self, token: str, ws: str | None = None) -> tuple[StoredRun, list[int]]:
        """A copy of the shared run in ``ws`` (not shared itself), or in a new workspace, made only when the run
        is there (see ``StoredRun.workspace``); the numbers of the runs let go to keep MAX_RUNS. AlreadyCopied
        when ``ws`` holds it (a copy of this link, or the run itself). The copy names the same checkpoint, and not
        the server that trained it. One transaction: a failure leaves neither a half-made copy nor a workspace
        made for it."""
        with self.engine.begin() as conn:
            found = self._runs(conn, token=token) if self.valid_id(token) else []
            if not found or found[0].damaged:
                raise UnknownWorkspace("this share link names no run")
            source = found[0]
            if ws is not None:
                there = conn.execute(sa.select(runs_table.c.number).where(
                    runs_table.c.workspace == ws,
                    (runs_table.c.copied_from == token) | (runs_table.c.id == source.id))).scalar()
                if there is not None:
                    raise AlreadyCopied(there)
            # the copy counts as training at the cap, so that it is never the run its own copy lets go; a
            # fine-tune's source number names a run of the owner's workspace, not of the copy's
            copy_id, let_go = self._add_run(conn, ws or self._new_workspace(conn), source.config,
                                            tuned_from=None if source.tuned_from is None else ELSEWHERE)
            parts = conn.execute(sa.select(runs_table.c.checkpoint_sha, runs_table.c.evaluation)
                                 .where(runs_table.c.id == source.id)).first()
            conn.execute(runs_table.update().where(runs_table.c.id == copy_id).values(
                status=source.status, train_seconds=source.train_seconds, device=source.device,
                message=source.message, evaluation=parts.evaluation, checkpoint_sha=parts.checkpoint_sha,
                has_checkpoint=source.has_checkpoint, copied_from=token, updated=time.time()))
            if source.epochs:
                conn.execute(epochs_table.insert(), [{**e, "run": copy_id} for e in source.epochs])
            return self._runs(conn, only=copy_id)[0], let_go

    # ------------------------------------------------------------------ handwriting examples
    @_guarded
    def examples(self, ws: str) -> list[tuple[int, np.ndarray, int]]:
        """The workspace's drawn examples, oldest first: (id, 28 x 28 uint8 image, label); damaged ones left
        out."""
        if not self.valid_id(ws):
            return []
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(examples_table).where(examples_table.c.workspace == ws)
                                .order_by(examples_table.c.id)).all()
        return [(r.id, np.frombuffer(r.image, np.uint8).reshape(28, 28).copy(), r.label) for r in rows
                if len(r.image) == 28 * 28 and 0 <= r.label <= 9]

    @_guarded
    def add_examples(self, ws: str | None, images, labels) -> tuple[str, list[int]]:
        """Keep drawn examples in ``ws``, or in a new workspace; that workspace and the examples' ids (fewer
        than given, none at all, when MAX_EXAMPLES would be passed: the oldest are kept)."""
        if ws is not None:
            self._check(ws)
        now = time.time()
        with self.engine.begin() as conn:
            ws = ws or self._new_workspace(conn)
            # the workspace's row lock first: two tabs adding at once never pass the cap together
            if not conn.execute(workspaces.update().where(workspaces.c.id == ws).values(last_seen=now)).rowcount:
                raise UnknownWorkspace("no such workspace")
            have = conn.execute(sa.select(sa.func.count()).where(examples_table.c.workspace == ws)).scalar()
            ids = [conn.execute(examples_table.insert().values(
                       workspace=ws, image=np.ascontiguousarray(image, np.uint8).tobytes(), label=int(label),
                       created=now)).inserted_primary_key[0]
                   for image, label in list(zip(images, labels))[:max(MAX_EXAMPLES - have, 0)]]
        return ws, ids

    @_guarded
    def remove_example(self, ws: str, example_id: int) -> None:
        self._check(ws)
        with self.engine.begin() as conn:
            conn.execute(examples_table.delete().where(examples_table.c.workspace == ws,
                                                       examples_table.c.id == example_id))

    # ------------------------------------------------------------------ retention
    @_guarded
    def prune(self, keep_days: int | None = None) -> int:
        """Remove workspaces unseen for ``keep_days`` (MNIST_KEEP_DAYS, default 30) with everything in them:
        runs (shared ones too: a share link lasts as long as its owner's workspace), checkpoints no run names any
        more, drawn examples; and what was left by workspaces already gone. Returns how many runs went."""
        cutoff = time.time() - (keep_days if keep_days is not None else kept_days()) * 86400
        with self.engine.begin() as conn:
            old = sa.select(workspaces.c.id).where(workspaces.c.last_seen < cutoff)
            kept = sa.select(workspaces.c.id).where(workspaces.c.last_seen >= cutoff)
            ids = conn.execute(sa.select(runs_table.c.id).where(runs_table.c.workspace.not_in(kept))).scalars().all()
            self._delete(conn, list(ids))
            conn.execute(examples_table.delete().where(examples_table.c.workspace.not_in(kept)))
            conn.execute(workspaces.delete().where(workspaces.c.id.in_(old)))
        return len(ids)

    def prune_if_due(self) -> None:
        """Prune (with MNIST_KEEP_DAYS) when this process has not for PRUNE_EVERY_SECONDS: called by the calls
        every page load makes, so a server that runs for months keeps pruning, without a thread of its own."""
        with self._prune_lock:
            now = time.monotonic()
            if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY_SECONDS:
                return
            self._pruned_at = now  # a failed prune waits its hour too: an outage is not made worse
        try:
            self.prune(keep_days())
        except StoreUnavailable as exc:
            log.warning("pruning the run store failed: %s", exc)


@dataclass
class _Epoch:
    epoch: int
    cost: float
    test_accuracy: float | None
    val_accuracy: float | None
    seconds: float


def _finite(x: float) -> float | None:
    return x if np.isfinite(x) else None  # a diverged run's NaN or inf cost: stored as NULL, read back as NaN


def _when(stamp: float | None) -> datetime | None:
    return datetime.fromtimestamp(stamp, timezone.utc) if stamp is not None else None


_ARRAYS = ("confusion", "per_class_accuracy", "mistake_indices", "mistake_true", "mistake_pred",
           "mistake_confidence")


def _pack(ev: EvalResult) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, accuracy=np.float64(ev.accuracy), loss=np.float64(ev.loss),
             **{name: np.asarray(getattr(ev, name)) for name in _ARRAYS})
    return buffer.getvalue()


def _unpack(blob: bytes) -> EvalResult:
    with np.load(io.BytesIO(blob), allow_pickle=False) as f:
        return EvalResult(accuracy=float(f["accuracy"]), loss=float(f["loss"]), **{name: f[name] for name in _ARRAYS})


def _stored(r, epochs: list[dict]) -> StoredRun:
    """A run's row as a StoredRun; ``damaged`` (its settings, evaluation left out) when they cannot be read."""
    owner = Owner(r.host, r.pid, r.pid_started) if r.pid else None
    stored = StoredRun(
        id=r.id, workspace=r.workspace, number=r.number, config={}, status=r.status, epochs=epochs,
        train_seconds=r.train_seconds, device=r.device, worker=r.worker, message=r.message,
        has_checkpoint=bool(r.has_checkpoint), share_token=r.share_token, created=_when(r.created),
        updated=_when(r.updated), owner=owner, tuned_from=r.tuned_from)
    try:
        stored.config = json.loads(r.config)
        if not isinstance(stored.config, dict):
            raise ValueError("settings that are not a mapping")
        stored.evaluation = _unpack(r.evaluation) if r.evaluation is not None else None
    except Exception as exc:  # whatever a damaged value raises, it costs its run only, never the workspace
        log.warning("run %s (#%s of workspace %s) is damaged: %r", r.id, r.number, r.workspace, exc)
        stored.config, stored.evaluation, stored.damaged = {}, None, True
    return stored
