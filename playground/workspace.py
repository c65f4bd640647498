"""A visitor's actions: their workspace's runs (add, remove, share, settle), a shared run (open, copy) and their
drawn handwriting examples (add, undo, load a file).

Each visitor's state is a :class:`Visitor`; the page keeps one in its
session and hands it to a :class:`Workspace` together with the server's parts
(the run store, the trainings it runs, the models it rebuilt). An action runs
whole, one at a time per visitor (a click's new script run may start while the
one it stopped is still in an action), and touches nothing of the page's, so
nothing stops it half done. Actions never draw: they return what the visitor
is to be told (:class:`Notice`), in words for a visitor; what went wrong
inside goes to the server's log. A workspace is made when the visitor first
keeps something (a run, a copy, a drawn example), never for looking. A read
never writes: a run left by a stopped server shows as interrupted when read,
and is marked so in the store when the visitor's runs are settled.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from gettext import NullTranslations

import numpy as np
from torch import nn

from mnist_core import TrainConfig
from mnist_core.handwriting import load_examples
from mnist_core.i18n import say
from mnist_core.jobs import Job
from playground.owner import is_gone, this_process
from playground.recorder import record
from playground.runs import STALE_SECONDS, Run, is_orphaned
from playground.store import (
    KEEP_DAYS, MAX_EXAMPLES, MAX_RUNS, MAX_SHARED, AlreadyCopied, RunStore, StoredRun, StoreUnavailable,
    TooManyShared, UnknownWorkspace, keep_days, kept_days,
)
from playground.text import plain

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notice:
    """Something to tell the visitor."""

    level: str             # success | info | warning | error
    message: str           # Markdown: a visitor's text in it is escaped (playground.text.plain)
    lasting: bool = False  # kept on show until the next training is submitted (it must outlive the redraw)


@dataclass
class Visitor:
    """One visitor's (one browser tab's) state. The page keeps one in its session state."""

    ws: str | None = None        # their workspace: None until they keep something, while the store cannot be
                                 # read, or for a viewer without one
    store_down: bool = False     # the store could not be read when the tab opened: runs live in the tab
    shared: Run | None = None    # the shared run on show, read-only
    run_list: list[Run] = field(default_factory=list)    # the workspace's runs as last read, then the tab's own
    offline: list[Run] = field(default_factory=list)     # runs the store could not take: this tab keeps them
    share_links: dict[int, str] = field(default_factory=dict)
    unread: dict[str, str] = field(default_factory=dict)  # the address's ws / run the store could not read: kept
    seen_done: set[int] = field(default_factory=set)      # runs seen ended when the runs were last settled
    damaged: set[int] = field(default_factory=set)        # ids of runs found damaged (said once, then left out)
    examples: list[tuple[int | None, np.ndarray, int]] = field(default_factory=list)  # drawn digits: (id in the
                                                          # store, None when kept in the tab only; 28x28; label)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)  # one action at a time


def _one_at_a_time(action):
    """The action runs whole before the visitor's next one starts: a click's new script run may start while the
    one it stopped is still in an action (Streamlit's fast reruns), and must not find it half done (a workspace
    made, not yet the visitor's: the next training would make another)."""
    @functools.wraps(action)
    def whole(self, *args, **kwargs):
        with self.visitor.lock:
            return action(self, *args, **kwargs)
    return whole


def _unavailable(what: str, exc: StoreUnavailable) -> None:
    log.warning("run store unavailable (%s): %s", what, exc)  # the details (a host, a port) are not the visitor's


class Workspace:
    """A visitor's actions, on their state (a :class:`Visitor`) and the server's parts:
    ``store`` opens the run store (StoreUnavailable while it cannot), ``live`` holds the trainings this server
    process runs by run id, ``stored_model`` rebuilds a stored run's model, ``unsaved`` holds the ids of ended
    runs whose result the store has not taken yet (their recorders keep trying). ``words``: the visitor's
    language's catalog (gettext), English by default; taken as an argument so that playground never needs to
    know where a visitor's language comes from."""

    def __init__(self, visitor: Visitor, store: Callable[[], RunStore], live: dict[int, Job],
                 stored_model: Callable[[int], nn.Module | None], unsaved: set[int] | None = None,
                 words: NullTranslations | None = None):
        self.words = words or NullTranslations()
        self._ = self.words.gettext
        self.visitor = visitor
        self.store = store
        self.live = live
        self.stored_model = stored_model
        self.unsaved = set() if unsaved is None else unsaved

    # ------------------------------------------------------------------ opening, once per visitor
    @_one_at_a_time
    def open(self, ws: str | None, token: str | None) -> list[Notice]:
        """The address's share link (``token``) and workspace: a share link's viewer gets a workspace when they
        copy the run into one, not for looking."""
        notices = []
        try:
            kept_days()
        except ValueError as exc:
            notices.append(Notice("error", self._("{problem}; unseen workspaces are kept {days} days.").format(
                problem=exc, days=KEEP_DAYS)))
        notices += self.open_shared(token)
        if self.visitor.shared is None:
            notices += self.open_workspace(ws)
        else:
            notices += self.open_viewers_workspace(ws)
        return notices

    def open_workspace(self, ws: str | None) -> list[Notice]:
        """The workspace ``ws`` with its drawn examples (saying why not, when it is not there); none for a
        first visit: it is made when the visitor first keeps something."""
        notices, self.visitor.ws = [], None
        if ws is None:
            return notices
        try:
            store = self.store()
            if not RunStore.valid_id(ws):
                notices.append(Notice("warning", self._("The address's workspace id is not valid; here is a new, "
                                                        "empty workspace.")))
            elif not store.has_workspace(ws):
                notices.append(Notice("warning", self._(
                    "No workspace {id} here (workspaces unseen for {days} days are removed); here is a new, empty "
                    "workspace.").format(id=plain(ws), days=keep_days())))
            else:
                store.touch(ws)
                self.visitor.examples = store.examples(ws)
                self.visitor.ws = ws
        except StoreUnavailable as exc:
            _unavailable("opening a workspace", exc)
            self.visitor.unread["ws"] = ws  # the address keeps it, for a reload once the store is back
            self.visitor.store_down = True
            notices.append(Notice("error", self._("The run store is unavailable right now: runs are kept in this "
                                                  "browser tab only.")))
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
        except StoreUnavailable as exc:
            _unavailable("opening a viewer's workspace", exc)
            return []
        return [Notice("warning", self._("The address's workspace id names no workspace here; Copy to my "
                                         "workspace will make you a new one."))]

    def open_shared(self, token: str | None) -> list[Notice]:
        """The run a share link names, read-only (none, saying why, when the link is bad or the run damaged)."""
        self.visitor.shared = None
        if token is None:
            return []
        try:
            stored = self.store().shared_run(token)
        except StoreUnavailable as exc:
            _unavailable("opening a share link", exc)
            self.visitor.unread["run"] = token  # the address keeps it, for a reload once the store is back
            return [Notice("error", self._("The shared run cannot be read now: the run store is unavailable right "
                                           "now."))]
        if stored is None:
            return [Notice("warning", self._("This share link names no run: it may have been mistyped, or its "
                                             "owner removed the run. Here is the page as new."))]
        run = self.as_run(stored)
        if stored.damaged or not self._model_loads(run):
            return [Notice("warning", self._("This shared run is damaged and cannot be shown. Here is the page as "
                                             "new."))]
        self.visitor.shared = run
        return []

    # ------------------------------------------------------------------ reading
    def as_run(self, stored: StoredRun, now: datetime | None = None) -> Run:
        """A stored run as the page shows it (its job while this server process trains it)."""
        job = self.live.get(stored.id)
        if is_orphaned(stored, job is not None, now or datetime.now(timezone.utc)):
            stored = replace(stored, status="interrupted")  # its epochs are kept; the store hears of it at settling
        return Run(stored.number, job, stored, load_model=lambda: self.stored_model(stored.id),
                   load_blob=lambda: self.store().checkpoint(stored.id), unsaved_ids=self.unsaved,
                   here=job is not None or stored.owner == this_process(), tuned_from=stored.tuned_from)

    @_one_at_a_time
    def load_runs(self) -> list[Notice]:
        """Read the workspace's runs into ``run_list`` (the tab's own after them)."""
        return self._load(settling=False)

    def _load(self, settling: bool) -> list[Notice]:
        visitor, notices, runs = self.visitor, [], []
        if visitor.ws is not None:
            try:
                store = self.store()
                stored, now = store.runs(visitor.ws), datetime.now(timezone.utc)
                notices += self._damaged([s for s in stored if s.damaged])
                stored = [s for s in stored if s.id not in visitor.damaged]
                if settling:
                    self._mark_orphans(store, stored, now)
                runs = [self.as_run(s, now) for s in stored]
            except StoreUnavailable as exc:
                _unavailable("reading a workspace", exc)
                notices.append(Notice("error", self._("The run store is unavailable right now: showing the runs "
                                                      "this tab last read.")))
                runs = [r for r in visitor.run_list if r.id is not None]
        visitor.run_list = runs + visitor.offline
        return notices

    def _damaged(self, found: list[StoredRun | Run]) -> list[Notice]:
        """Leave damaged runs out of this visitor's runs, saying so once for each."""
        new = [s for s in found if s.id not in self.visitor.damaged]
        self.visitor.damaged |= {s.id for s in new}
        self.visitor.run_list = [r for r in self.visitor.run_list if r.id not in self.visitor.damaged]
        return [Notice("warning", self._("Run #{number} is damaged and cannot be shown.").format(number=s.number),
                       lasting=True) for s in new]

    def _mark_orphans(self, store: RunStore, stored: list[StoredRun], now: datetime) -> None:
        orphans = [s for s in stored if is_orphaned(s, s.id in self.live, now)]
        dead = [s.id for s in orphans if s.owner is not None and is_gone(s.owner)]
        try:
            store.mark_interrupted([s.id for s in orphans if s.id not in dead],
                                   quiet_since=now.timestamp() - STALE_SECONDS)
            store.mark_interrupted(dead, quiet_since=float("inf"))  # nobody writes for a process that is gone
        except StoreUnavailable as exc:
            _unavailable("marking interrupted runs", exc)  # shown as interrupted all the same; the next settling

    def _model_loads(self, run: Run) -> bool:
        """Whether a run that ended with a model can rebuild it (a damaged checkpoint cannot); True while the
        store cannot be read (nothing is known to be wrong)."""
        if run.job is not None or not run.has_model:
            return True
        try:
            run.model
        except StoreUnavailable as exc:
            _unavailable("reading a checkpoint", exc)
        except Exception as exc:  # whatever a damaged checkpoint raises: its run goes, not the page
            log.warning("run %s's checkpoint is damaged: %r", run.id, exc)
            return False
        return True

    def latest_finished(self) -> Run | None:
        """The run whose model the page uses: the shared one on show (when it ended with a model), else the
        visitor's latest trained (settling left out those whose checkpoint is damaged)."""
        shared = self.visitor.shared
        candidates = [shared] if shared is not None else [r for r in self.visitor.run_list if r.done]
        done = [r for r in candidates if r.evaluation is not None and r.has_model]
        return done[-1] if done else None

    # ------------------------------------------------------------------ the workspace's runs
    @_one_at_a_time
    def train(self, submit: Callable[[TrainConfig], Job], configs: list[TrainConfig],
              tuned_from: int | None = None) -> tuple[list[Run], list[Notice]]:
        """Hand each config to ``submit`` (the backend's, with the visitor's share; several, a sweep, as one
        submission) and add its run (see :meth:`add_run`): the new runs, and what to tell the visitor. A setting
        that cannot train, or a visitor with too many trainings, is a message, and ends the submitting."""
        runs, notices = [], []
        for config in configs:
            try:
                job = submit(config)  # a backend that cannot start (Ray unreachable) says so here
            except ValueError as exc:
                notices.append(Notice("error", say(exc, self.words)))
                break
            run, said = self.add_run(job, tuned_from)
            runs.append(run)
            notices += said
        return runs, notices

    @_one_at_a_time
    def add_run(self, job: Job, tuned_from: int | None = None) -> tuple[Run, list[Notice]]:
        """A new run for a submitted job (a fine-tune of ``tuned_from``: see playground.store.StoredRun): stored
        at once (in a workspace made for it on the visitor's first), its epochs written as they come (by a
        recorder thread of the server's, not the visitor's); kept in the tab when the store cannot take it."""
        visitor, notices = self.visitor, []
        try:
            if visitor.store_down:  # a new workspace now would hide the one the address names
                raise StoreUnavailable("the workspace in the address could not be read")
            store = self.store()
            try:
                stored, let_go = store.add_run(visitor.ws, job.config.to_dict(), owner=this_process(),
                                               tuned_from=tuned_from)
            except UnknownWorkspace:  # removed meanwhile (unseen for keep_days()): the training is kept all the same
                stored, let_go = store.add_run(None, job.config.to_dict(), owner=this_process(),
                                               tuned_from=tuned_from)
                notices.append(self._removed_meanwhile())
        except StoreUnavailable as exc:
            _unavailable("adding a run", exc)
            run = Run(max([r.number for r in visitor.run_list], default=0) + 1, job, tuned_from=tuned_from)
            visitor.offline.append(run)
            notices.append(Notice("warning", self._("The run store is unavailable right now: run #{number} is "
                                                    "kept in this browser tab only.").format(number=run.number)))
        else:
            visitor.ws = stored.workspace
            self.live[stored.id] = job
            threading.Thread(target=record, args=(store, stored.id, job, self.live, self.unsaved), daemon=True,
                             name=f"record-run-{stored.id}").start()
            run = self.as_run(stored)
            notices += self._let_go(let_go)
        visitor.run_list.append(run)
        return run, notices

    def _removed_meanwhile(self) -> Notice:
        return Notice("warning", self._("Your workspace was removed while this tab was open (workspaces unseen for "
                                        "{days} days are): what you just made starts a new one, in the page's "
                                        "address now.").format(days=keep_days()))

    def _let_go(self, numbers: list[int]) -> list[Notice]:
        visitor = self.visitor
        visitor.run_list = [r for r in visitor.run_list if r.id is None or r.number not in numbers]
        return [Notice("info", self._("Run #{number} was let go: a workspace keeps at most {most} runs (the "
                                      "oldest unshared ones go first).").format(number=number, most=MAX_RUNS),
                       lasting=True) for number in numbers]

    @_one_at_a_time
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
                        _unavailable("removing a run", exc)
                        return [Notice("error", self._("Run #{number} could not be removed now: the run store "
                                                       "is unavailable right now.").format(number=number))]
        visitor.offline = [r for r in visitor.offline if r.number != number]
        visitor.run_list = [r for r in visitor.run_list if r.number != number]
        return []

    @_one_at_a_time
    def share_run(self, number: int, base_url: str) -> list[Notice]:
        """Make run ``number``'s read-only link under the page's address ``base_url`` (kept in ``share_links``
        to show beside the run)."""
        try:
            token = self.store().share(self.visitor.ws, number)
        except StoreUnavailable as exc:
            _unavailable("sharing a run", exc)
            return [Notice("error", self._("Run #{number} cannot be shared now: the run store is unavailable "
                                           "right now.").format(number=number))]
        except UnknownWorkspace:
            return [self._gone(number)]
        except TooManyShared:
            return [Notice("warning", self._("Run #{number} cannot be shared: this workspace shares {most} runs "
                                             "already, the most it may. Unshare one of them first.").format(
                number=number, most=MAX_SHARED))]
        self.visitor.share_links[number] = f"{base_url}/?run={token}"
        return []

    @_one_at_a_time
    def unshare_run(self, number: int) -> list[Notice]:
        """Run ``number``'s share link stops working."""
        try:
            self.store().unshare(self.visitor.ws, number)
        except StoreUnavailable as exc:
            _unavailable("unsharing a run", exc)
            return [Notice("error", self._("Run #{number} cannot be unshared now: the run store is unavailable "
                                           "right now.").format(number=number))]
        except UnknownWorkspace:
            return [self._gone(number)]
        self.visitor.share_links.pop(number, None)
        for run in self.visitor.run_list:
            if run.number == number and run.stored is not None:
                run.stored = replace(run.stored, share_token=None)
        return [Notice("success", self._("Run #{number}'s share link no longer works.").format(number=number))]

    def _gone(self, number: int) -> Notice:
        return Notice("warning", self._("Run #{number} is no longer in this workspace (removed in another "
                                        "tab?).").format(number=number))

    @_one_at_a_time
    def copy_shared(self) -> list[Notice]:
        """Copy the shared run on show into the visitor's workspace (made here for a viewer without one, only
        when the run is still there), and show that workspace; a run copied before is not copied again."""
        visitor = self.visitor
        try:
            copy, let_go = self.store().copy_to_workspace(visitor.shared.stored.share_token, visitor.ws)
        except StoreUnavailable as exc:
            _unavailable("copying a shared run", exc)
            return [Notice("error", self._("The run cannot be copied now: the run store is unavailable right "
                                           "now."))]
        except AlreadyCopied as already:
            visitor.shared = None
            return [Notice("info", self._("This run is in your workspace already, as run #{number}.").format(
                number=already.number))]
        except UnknownWorkspace:  # its owner removed it meanwhile
            copy, let_go = None, []
        visitor.shared = None
        if copy is None:
            return [Notice("warning", self._("This run was removed by its owner after you opened it: there is "
                                             "nothing to copy. Here is your workspace.") if visitor.ws else
                           self._("This run was removed by its owner after you opened it: there is nothing to "
                                  "copy. Here is the page as new."))]
        visitor.ws = copy.workspace
        self.visitor.examples = self.visitor.examples or self._examples_of(copy.workspace)
        copied = self._("Copied into your workspace as run #{number}.").format(number=copy.number)
        return [Notice("success", copied), *self._let_go(let_go)]

    def _examples_of(self, ws: str) -> list:
        try:
            return self.store().examples(ws)
        except StoreUnavailable as exc:
            _unavailable("reading drawn examples", exc)
            return []

    @_one_at_a_time
    def settle_runs(self) -> tuple[bool, list[Notice]]:
        """At the start of a full script run: read the runs (marking those left by a stopped server interrupted
        in the store), drop those that ended with nothing to show or are damaged (saying why), say which could
        not be saved, and note which have ended, so the page knows when to redraw. Whether any run still trains,
        and the notices."""
        visitor = self.visitor
        notices = self._load(settling=True)
        lost = 0
        for run in [r for r in visitor.run_list if r.done and not r.costs]:
            notices += self.remove_run(run.number)  # what it has to say stays on show until the next training
            if run.status == "failed":
                notices.append(Notice("error", self._("Run #{number} failed: {problem}").format(
                    number=run.number, problem=run.message), lasting=True))
            elif run.status == "interrupted":
                lost += 1
            else:
                notices.append(Notice("info", self._("Run #{number} was stopped before its first epoch ended; "
                                                     "there is nothing to keep.").format(number=run.number),
                                      lasting=True))
        if lost:
            notices.append(Notice("info", self.words.ngettext(
                "{count} training was lost when the server restarted before finishing an epoch; train again for "
                "a model.",
                "{count} trainings were lost when the server restarted before finishing an epoch; train again "
                "for a model.", lost).format(count=lost), lasting=True))
        while (run := self.latest_finished()) is not None and not self._model_loads(run):  # the page needs it
            notices += self._damaged([run])
        for run in visitor.run_list:
            if run.status == "unsaved":
                unsaved = (self._("Run #{number} could not be saved: download it now (Compare runs, Download). "
                                  "This server keeps it only until it stops.") if run.has_model else
                           self._("Run #{number} could not be saved."))
                notices.append(Notice("error", unsaved.format(number=run.number)))
        visitor.seen_done = {r.number for r in visitor.run_list if r.done}
        return len(visitor.seen_done) < len(visitor.run_list), notices

    # ------------------------------------------------------------------ drawn handwriting examples
    @_one_at_a_time
    def add_examples(self, images, labels) -> list[Notice]:
        """Keep drawn examples with the workspace (made for them on the visitor's first), up to MAX_EXAMPLES;
        in the tab only while the store cannot take them."""
        visitor = self.visitor
        room = max(MAX_EXAMPLES - len(visitor.examples), 0)
        images, labels = list(images)[:room], [int(x) for x in list(labels)[:room]]
        notices = []
        if not images:
            return [Notice("warning", self._("A workspace keeps at most {most} examples: undo some first.").format(
                most=MAX_EXAMPLES))]
        try:
            if visitor.store_down:
                raise StoreUnavailable("the workspace in the address could not be read")
            try:
                ws, ids = self.store().add_examples(visitor.ws, images, labels)
            except UnknownWorkspace:  # removed meanwhile (unseen for keep_days()): the drawings are kept all the same
                ws, ids = self.store().add_examples(None, images, labels)
                notices.append(self._removed_meanwhile())
        except StoreUnavailable as exc:
            _unavailable("keeping drawn examples", exc)
            ws, ids = visitor.ws, [None] * len(images)
            notices.append(Notice("warning", self._("The run store is unavailable right now: your drawings are kept "
                                                    "in this browser tab only.")))
        visitor.ws = ws
        visitor.examples += [(i, np.asarray(image, np.uint8), label) for i, image, label in zip(ids, images, labels)]
        return notices

    @_one_at_a_time
    def undo_example(self) -> list[Notice]:
        """Forget the latest drawn example."""
        visitor = self.visitor
        if not visitor.examples:
            return []
        example_id = visitor.examples[-1][0]
        if example_id is not None:
            try:
                self.store().remove_example(visitor.ws, example_id)
            except StoreUnavailable as exc:
                _unavailable("removing a drawn example", exc)
                return [Notice("error", self._("The example could not be removed now: the run store is "
                                               "unavailable right now."))]
        visitor.examples.pop()
        return []

    @_one_at_a_time
    def load_examples_file(self, file, name: str) -> list[Notice]:
        """Add the examples of a ``.npz`` the page downloaded before (mnist_core.handwriting.load_examples)."""
        try:
            images, labels = load_examples(file)
        except Exception as exc:  # a visitor's file may make the reader raise anything: a message, never a trace
            log.info("a handwriting file was refused: %r", exc)
            cannot = self._("{name} cannot be read as your digits (a .npz downloaded from this page)").format(
                name=plain(name))
            if isinstance(exc, ValueError):
                cannot = self._("{refusal}: {why}").format(refusal=cannot, why=plain(say(exc, self.words)))
            return [Notice("warning", cannot)]
        before = len(self.visitor.examples)
        notices = self.add_examples(images, labels)
        added = len(self.visitor.examples) - before
        if added:
            said = self.words.ngettext("Added {count} example from {name}.", "Added {count} examples from {name}.",
                                       added).format(count=added, name=plain(name))
            if added < len(labels):
                said = self.words.ngettext(
                    "Added {count} example from {name} (the first {count} of {total}: a workspace keeps at most "
                    "{most}).",
                    "Added {count} examples from {name} (the first {count} of {total}: a workspace keeps at most "
                    "{most}).", added).format(count=added, total=len(labels), name=plain(name), most=MAX_EXAMPLES)
            notices.insert(0, Notice("success", said))
        return notices
