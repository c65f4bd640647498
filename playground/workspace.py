"""A visitor's actions: their workspace's runs (add, remove, share, settle) and a shared run (open, copy).

Each visitor's state is a :class:`Visitor`'s fields; the page keeps them in
its session and hands them to a :class:`Workspace` together with the server's
parts (the run store, the trainings it runs, the models it rebuilt). Actions
never draw: they return what the visitor is to be told (:class:`Notice`).
A read never writes: a run left by a stopped server shows as interrupted when
read, and is marked so in the store when the visitor's runs are settled.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

from torch import nn

from mnist_core.jobs import Job
from playground.recorder import record
from playground.runs import STALE_SECONDS, Run, is_orphaned
from playground.store import (
    KEEP_DAYS, MAX_RUNS, RunStore, StoredRun, StoreUnavailable, UnknownWorkspace, keep_days, kept_days,
)
from playground.text import plain


@dataclass(frozen=True)
class Notice:
    """Something to tell the visitor."""

    level: str             # success | info | warning | error
    message: str           # Markdown: a visitor's text in it is escaped (playground.text.plain)
    lasting: bool = False  # kept on show until the next training is submitted (it must outlive the redraw)


@dataclass
class Visitor:
    """One visitor's (one browser tab's) state. The page keeps these fields in its session state."""

    ws: str | None = None        # their workspace: None while the store cannot be read, or for a viewer without one
    shared: Run | None = None    # the shared run on show, read-only
    run_list: list[Run] = field(default_factory=list)    # the workspace's runs as last read, then the tab's own
    offline: list[Run] = field(default_factory=list)     # runs the store could not take: this tab keeps them
    share_links: dict[int, str] = field(default_factory=dict)
    unread: dict[str, str] = field(default_factory=dict)  # the address's ws / run the store could not read: kept
    seen_done: set[int] = field(default_factory=set)      # runs seen ended when the runs were last settled


class Workspace:
    """A visitor's actions, on their state (a :class:`Visitor`, or anything with its fields) and the server's parts:
    ``store`` opens the run store (StoreUnavailable while it cannot), ``live`` holds the trainings this server
    process runs by run id, ``stored_model`` rebuilds a stored run's model."""

    def __init__(self, visitor: Visitor, store: Callable[[], RunStore], live: dict[int, Job],
                 stored_model: Callable[[int], nn.Module | None]):
        self.visitor = visitor
        self.store = store
        self.live = live
        self.stored_model = stored_model

    # ------------------------------------------------------------------ opening, once per visitor
    def open(self, ws: str | None, token: str | None) -> list[Notice]:
        """The address's share link (``token``) and workspace: a share link's viewer gets a workspace when they
        copy the run into one, not for looking."""
        notices = []
        try:
            kept_days()
        except ValueError as exc:
            notices.append(Notice("error", f"{exc}; unseen workspaces are kept {KEEP_DAYS} days."))
        notices += self.open_shared(token)
        if self.visitor.shared is None:
            notices += self.open_workspace(ws)
        else:
            notices += self.open_viewers_workspace(ws)
        return notices

    def open_workspace(self, ws: str | None) -> list[Notice]:
        """The workspace ``ws``, or a new one (saying why); none while the store is unavailable."""
        notices = []
        try:
            store = self.store()
            if ws is not None and not RunStore.valid_id(ws):
                notices.append(Notice("warning", "The address's workspace id is not valid; here is a new, empty "
                                                 "workspace."))
                ws = None
            elif ws is not None and not store.has_workspace(ws):
                notices.append(Notice("warning", f"No workspace {plain(ws)} here (workspaces unseen for "
                                                 f"{keep_days()} days are removed); here is a new, empty workspace."))
                ws = None
            ws = ws or store.new_workspace()
            store.touch(ws)
            self.visitor.ws = ws
        except StoreUnavailable as exc:
            if ws is not None:
                self.visitor.unread["ws"] = ws  # the address keeps it, for a reload once the store is back
            notices.append(Notice("error", f"The run store is unavailable ({exc}): runs are kept in this browser "
                                           "tab only."))
            self.visitor.ws = None
        return notices

    def open_viewers_workspace(self, ws: str | None) -> list[Notice]:
        """A share link's viewer's own workspace, when the address names one that exists (never a new one)."""
        self.visitor.ws = None
        if ws is None:
            return []
        try:
            if self.store().has_workspace(ws):  # False for a malformed id too
                self.visitor.ws = ws
                return []
        except StoreUnavailable:
            return []
        return [Notice("warning", "The address's workspace id names no workspace here; Copy to my workspace will "
                                  "make you a new one.")]

    def open_shared(self, token: str | None) -> list[Notice]:
        """The run a share link names, read-only (none, saying why, when the link is bad)."""
        self.visitor.shared = None
        if token is None:
            return []
        try:
            stored = self.store().shared_run(token)
        except StoreUnavailable as exc:
            self.visitor.unread["run"] = token  # the address keeps it, for a reload once the store is back
            return [Notice("error", f"The shared run cannot be read now: the run store is unavailable ({exc}).")]
        if stored is None:
            return [Notice("warning", "This share link names no run: it may have been mistyped, or its owner "
                                      "removed the run. Here is the page as new.")]
        self.visitor.shared = self.as_run(stored)
        return []

    # ------------------------------------------------------------------ reading
    def as_run(self, stored: StoredRun, now: datetime | None = None) -> Run:
        """A stored run as the page shows it (its job while this server process trains it)."""
        job = self.live.get(stored.id)
        if is_orphaned(stored, job is not None, now or datetime.now(timezone.utc)):
            stored = replace(stored, status="interrupted")  # its epochs are kept; the store hears of it at settling
        return Run(stored.number, job, stored, load_model=lambda: self.stored_model(stored.id),
                   load_blob=lambda: self.store().checkpoint(stored.id))

    def load_runs(self) -> list[Notice]:
        """Read the workspace's runs into ``run_list`` (the tab's own after them)."""
        return self._load(settling=False)

    def _load(self, settling: bool) -> list[Notice]:
        visitor, notices, runs = self.visitor, [], []
        if visitor.ws is not None:
            try:
                store = self.store()
                stored, now = store.runs(visitor.ws), datetime.now(timezone.utc)
                if settling:
                    self._mark_orphans(store, stored, now)
                runs = [self.as_run(s, now) for s in stored]
            except StoreUnavailable as exc:
                notices.append(Notice("error", f"The run store is unavailable ({exc}): showing the runs this tab "
                                               "last read."))
                runs = [r for r in visitor.run_list if r.id is not None]
        visitor.run_list = runs + visitor.offline
        return notices

    def _mark_orphans(self, store: RunStore, stored: list[StoredRun], now: datetime) -> None:
        orphans = [s.id for s in stored if is_orphaned(s, s.id in self.live, now)]
        try:
            store.mark_interrupted(orphans, quiet_since=now.timestamp() - STALE_SECONDS)
        except StoreUnavailable:
            pass  # shown as interrupted all the same; the next settling writes it

    def latest_finished(self) -> Run | None:
        """The run whose model the page uses: the shared one on show (when it ended with a model), else the
        visitor's latest trained."""
        shared = self.visitor.shared
        candidates = [shared] if shared is not None else [r for r in self.visitor.run_list if r.done]
        done = [r for r in candidates if r.evaluation is not None and r.has_model]
        return done[-1] if done else None

    # ------------------------------------------------------------------ the workspace's runs
    def add_run(self, job: Job) -> tuple[Run, list[Notice]]:
        """A new run for a submitted job: stored at once, its epochs written as they come (by a recorder
        thread of the server's, not the visitor's); kept in the tab when the store cannot take it."""
        visitor, notices = self.visitor, []
        try:
            if visitor.ws is None:
                raise StoreUnavailable("no workspace")
            store = self.store()
            stored, let_go = store.add_run(visitor.ws, job.config.to_dict())
        except StoreUnavailable as exc:
            run = Run(max([r.number for r in visitor.run_list], default=0) + 1, job)
            visitor.offline.append(run)
            notices.append(Notice("warning", f"The run store is unavailable ({exc}): run #{run.number} is kept in "
                                             "this browser tab only."))
        else:
            self.live[stored.id] = job
            threading.Thread(target=record, args=(store, stored.id, job, self.live), daemon=True,
                             name=f"record-run-{stored.id}").start()
            run = self.as_run(stored)
            notices += self._let_go(let_go)
        visitor.run_list.append(run)
        return run, notices

    def _let_go(self, numbers: list[int]) -> list[Notice]:
        visitor = self.visitor
        visitor.run_list = [r for r in visitor.run_list if r.id is None or r.number not in numbers]
        return [Notice("info", f"Run #{number} was let go: a workspace keeps at most {MAX_RUNS} runs (the oldest "
                               "unshared ones go first).", lasting=True) for number in numbers]

    def remove_run(self, number: int) -> list[Notice]:
        """Remove run ``number`` (stopping it first when it still trains)."""
        visitor = self.visitor
        for run in visitor.run_list:
            if run.number == number:
                if run.job is not None:
                    run.job.stop()
                if run.id is not None:
                    try:
                        self.store().remove_run(visitor.ws, number)
                    except StoreUnavailable as exc:
                        return [Notice("error", f"Run #{number} could not be removed now: the run store is "
                                                f"unavailable ({exc}).")]
        visitor.offline = [r for r in visitor.offline if r.number != number]
        visitor.run_list = [r for r in visitor.run_list if r.number != number]
        return []

    def share_run(self, number: int, base_url: str) -> list[Notice]:
        """Make run ``number``'s read-only link under the page's address ``base_url`` (kept in ``share_links``
        to show beside the run)."""
        try:
            token = self.store().share(self.visitor.ws, number)
        except StoreUnavailable as exc:
            return [Notice("error", f"Run #{number} cannot be shared now: the run store is unavailable ({exc}).")]
        except UnknownWorkspace:
            return [Notice("warning", f"Run #{number} is no longer in this workspace (removed in another tab?).")]
        self.visitor.share_links[number] = f"{base_url}/?run={token}"
        return []

    def copy_shared(self) -> list[Notice]:
        """Copy the shared run on show into the visitor's workspace (made here for a viewer without one, only
        when the run is still there), and show that workspace."""
        visitor = self.visitor
        try:
            copy, let_go = self.store().copy_to_workspace(visitor.shared.stored.share_token, visitor.ws)
        except StoreUnavailable as exc:
            return [Notice("error", f"The run cannot be copied now: the run store is unavailable ({exc}).")]
        except UnknownWorkspace:  # its owner removed it meanwhile
            copy, let_go = None, []
        visitor.shared = None
        if copy is None:
            notices = [Notice("warning", "This run was removed by its owner after you opened it: there is nothing "
                                         "to copy. " + ("Here is your workspace." if visitor.ws else
                                                        "Here is the page as new."))]
            if not visitor.ws:
                notices += self.open_workspace(None)
            return notices
        visitor.ws = copy.workspace
        return [Notice("success", f"Copied into your workspace as run #{copy.number}."), *self._let_go(let_go)]

    def settle_runs(self) -> tuple[bool, list[Notice]]:
        """At the start of a full script run: read the runs (marking those left by a stopped server interrupted
        in the store), drop those that ended with nothing to show (saying why), and note which have ended, so the
        page knows when to redraw. Whether any run still trains, and the notices."""
        visitor = self.visitor
        notices = self._load(settling=True)
        for run in [r for r in visitor.run_list if r.done and not r.costs]:
            notices += self.remove_run(run.number)  # what it has to say stays on show until the next training
            if run.status == "failed":
                notices.append(Notice("error", f"Run #{run.number} failed: {run.message}", lasting=True))
            else:
                notices.append(Notice("info", f"Run #{run.number} was stopped before its first epoch ended; there "
                                              "is nothing to keep.", lasting=True))
        visitor.seen_done = {r.number for r in visitor.run_list if r.done}
        return len(visitor.seen_done) < len(visitor.run_list), notices
