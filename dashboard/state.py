"""What the page keeps: shared resources (once per server process) and each visitor's session.

The trainings live in a job backend (mnist_core.jobs) and the runs in a store
(dashboard.store), not in the script run: a click re-runs the script, never
ends a training, and a reload, a new tab or a restarted server finds the
workspace's runs again by the ``ws`` in the address.
"""

from __future__ import annotations

import io
import sys
import threading
import time
from datetime import datetime, timezone

import streamlit as st

from dashboard.runs import ENDED, Run
from dashboard.settings import KEYS, from_query
from dashboard.store import KEEP_DAYS, MAX_RUNS, RunStore, StoredRun, StoreUnavailable, UnknownWorkspace, kept_days
from dashboard.text import plain
from mnist_core import load_checkpoint
from mnist_core.checkpoint import pretrained_path
from mnist_core.jobs import DataSpec, Job, get_backend, shared_data


# In-process trainings share the GIL with the page's own Python work (figures, protobuf, websockets);
# at Python's default 5 ms switch interval a training waits behind it: the tutorial's 10 epochs took
# 5.17 s (median) beside page-like work instead of 1.36 s alone in a thread, and 4.0 s at 0.5 ms
# (benchmarks/README.md, section 8).
GIL_SWITCH_SECONDS = 0.0005


@st.cache_resource
def backend():
    """Where trainings run: ``MNIST_BACKEND`` (thread, the default, or ray: ``RAY_ADDRESS``'s cluster, else a
    local Ray that ends with this server); one per server process."""
    b = get_backend()
    if b.name == "thread":
        sys.setswitchinterval(GIL_SWITCH_SECONDS)
    return b


@st.cache_resource(show_spinner="Loading MNIST (once per server)…")
def mnist():
    """MNIST on the CPU for showing images (the same tensors the in-process trainings use)."""
    return shared_data(DataSpec(), "cpu")


@st.cache_resource
def pretrained_model():
    model, info = load_checkpoint(pretrained_path(), device="cpu")
    return model, info["metrics"].get("test_accuracy"), info["config"]


STALE_SECONDS = 60       # a run "running" with no news for this long was left by a server that stopped
HEARTBEAT_SECONDS = 5.0  # how often a training's recorder tells the store it is alive
RECORD_POLL_SECONDS = 0.25


@st.cache_resource(show_spinner=False)
def store() -> RunStore:
    """The run store (MNIST_DB_URL, else SQLite under MNIST_STATE_DIR); old workspaces are pruned once per start."""
    runs = RunStore()
    runs.prune(keep_days())
    return runs


def keep_days() -> int:
    """Days an unseen workspace is kept: MNIST_KEEP_DAYS, else (also when it is not a number of days, which
    :func:`init_session` says) KEEP_DAYS."""
    try:
        return kept_days()
    except ValueError:
        return KEEP_DAYS


@st.cache_resource
def live_jobs() -> dict[int, Job]:
    """Trainings this server process runs, by run id, until their result is in the store."""
    return {}


@st.cache_resource(max_entries=64, show_spinner=False)
def stored_model(run_id: int):
    """A stored run's model on the CPU, rebuilt from its checkpoint (once per server, for every visitor)."""
    blob = store().checkpoint(run_id)
    return load_checkpoint(io.BytesIO(blob), device="cpu")[0] if blob else None


def record(runs: RunStore, run_id: int, job: Job, live: dict[int, Job]) -> None:
    """Write a training's epochs and its result to the store as it trains (a thread owned by no session,
    so closing the tab loses nothing). While the store is unreachable it keeps trying; the page meanwhile
    shows the run from its job."""
    written, beat, status = 0, 0.0, None
    deadline = None
    while True:
        ended = job.done
        if not ended:  # polled: a wait on the job would wake at every batch and take the GIL from the training
            time.sleep(RECORD_POLL_SECONDS)
            ended = job.done
        snap = job.snapshot()
        try:
            for report in snap.epochs[written:]:
                runs.add_epoch(run_id, report)
                written += 1
            if ended:
                runs.finish_run(run_id, job.result)
                live.pop(run_id, None)
                return
            if snap.status != status or time.monotonic() - beat > HEARTBEAT_SECONDS:
                runs.heartbeat(run_id, status=snap.status, device=snap.device or None, worker=snap.worker or None)
                status, beat = snap.status, time.monotonic()
        except StoreUnavailable:
            deadline = deadline or time.monotonic() + 3600
            if time.monotonic() > deadline:  # an hour without a store: the run lives on in its job only
                return
            time.sleep(HEARTBEAT_SECONDS)


def init_session() -> None:
    """Once per browser tab: the settings and the workspace from the address."""
    ss = st.session_state
    if "ws" in ss:
        return
    ss.canvas_key = 0
    ss.notices = []
    ss.lasting = []      # notes kept on show until the next training is submitted (runs ended empty, let go)
    ss.seen_done = set()
    ss.offline = []      # runs the store could not take: this tab keeps them
    ss.run_list = []
    ss.share_links = {}
    ss.unread = {}       # the address's ws / run while the store cannot read them: kept in the address
    try:
        kept_days()
    except ValueError as exc:
        notify("error", f"{exc}; unseen workspaces are kept {KEEP_DAYS} days.")
    params = st.query_params.to_dict()
    settings = from_query(params)
    for key in KEYS:
        ss[key] = settings[key]
    ss.shared = open_shared(params.get("run"))
    # a share link's viewer gets a workspace when they copy the run into one, not for looking
    if ss.shared is None:
        ss.ws = open_workspace(params.get("ws"))
    else:
        ss.ws = viewers_workspace(params.get("ws"))


def open_workspace(ws: str | None) -> str | None:
    """The address's workspace, or a new one (saying why); None when the store is unavailable."""
    try:
        runs = store()
        if ws is not None and not RunStore.valid_id(ws):
            notify("warning", "The address's workspace id is not valid; here is a new, empty workspace.")
            ws = None
        elif ws is not None and not runs.has_workspace(ws):
            notify("warning", f"No workspace {plain(ws)} here (workspaces unseen for {keep_days()} days are "
                              "removed); here is a new, empty workspace.")
            ws = None
        ws = ws or runs.new_workspace()
        runs.touch(ws)
        return ws
    except StoreUnavailable as exc:
        if ws is not None:
            st.session_state.unread["ws"] = ws  # the address keeps it, for a reload once the store is back
        notify("error", f"The run store is unavailable ({exc}): runs are kept in this browser tab only.")
        return None


def viewers_workspace(ws: str | None) -> str | None:
    """A share link's viewer's own workspace, when the address names one that exists (never a new one)."""
    if ws is None:
        return None
    try:
        if store().has_workspace(ws):  # False for a malformed id too
            return ws
    except StoreUnavailable:
        return None
    notify("warning", f"No workspace {plain(ws)} here; Copy to my workspace will make you a new one.")
    return None


def open_shared(token: str | None) -> Run | None:
    """The run a share link names (read-only), or None (saying why when the link is bad)."""
    if token is None:
        return None
    try:
        stored = store().shared_run(token)
    except StoreUnavailable as exc:
        st.session_state.unread["run"] = token  # the address keeps it, for a reload once the store is back
        notify("error", f"The shared run cannot be read now: the run store is unavailable ({exc}).")
        return None
    if stored is None:
        notify("warning", "This share link names no run: it may have been mistyped, or its owner removed the run. "
                          "Here is the page as new.")
        return None
    return as_run(stored)


def as_run(stored: StoredRun) -> Run:
    job = live_jobs().get(stored.id)
    if job is None and stored.status not in ENDED and stored.updated is not None and \
            (datetime.now(timezone.utc) - stored.updated).total_seconds() > STALE_SECONDS:
        stored.status = "interrupted"  # its server stopped mid-training; the epochs it wrote are kept
        try:
            store().heartbeat(stored.id, status="interrupted")
        except StoreUnavailable:
            pass
    return Run(stored.number, job, stored, load_model=lambda: stored_model(stored.id),
               load_blob=lambda: store().checkpoint(stored.id))


def load_runs() -> list[Run]:
    """This workspace's runs, read from the store (once per script run: :func:`runs` returns them)."""
    ss = st.session_state
    stored = []
    if ss.ws is not None:
        try:
            stored = [as_run(r) for r in store().runs(ss.ws)]
        except StoreUnavailable as exc:
            notify("error", f"The run store is unavailable ({exc}): showing the runs this tab last read.")
            stored = [r for r in ss.run_list if r.id is not None]
    ss.run_list = stored + ss.offline
    return ss.run_list


def runs() -> list[Run]:
    return st.session_state.run_list


def notify(level: str, message: str, lasting: bool = False) -> None:
    """A message at the top of the training section: shown once, or ``lasting`` until the next training is
    submitted (what happened to a run must outlive the redraw when the training ends)."""
    (st.session_state.lasting if lasting else st.session_state.notices).append((level, message))


def show_notices() -> None:
    for level, message in st.session_state.notices + st.session_state.lasting:
        getattr(st, level)(message)
    st.session_state.notices = []


def add_run(job: Job) -> Run:
    """A new run for a submitted job: stored at once, its epochs written as they come."""
    ss = st.session_state
    try:
        if ss.ws is None:
            raise StoreUnavailable("no workspace")
        runs = store()
        stored, let_go = runs.add_run(ss.ws, job.config.to_dict())
    except StoreUnavailable as exc:
        run = Run(max([r.number for r in ss.run_list], default=0) + 1, job)
        ss.offline.append(run)
        notify("warning", f"The run store is unavailable ({exc}): run #{run.number} is kept in this browser "
                          "tab only.")
    else:
        live_jobs()[stored.id] = job
        threading.Thread(target=record, args=(runs, stored.id, job, live_jobs()), daemon=True,
                         name=f"record-run-{stored.id}").start()
        run = as_run(stored)
        note_let_go(let_go)
    ss.run_list.append(run)
    return run


def note_let_go(numbers: list[int]) -> None:
    ss = st.session_state
    ss.run_list = [r for r in ss.run_list if r.id is None or r.number not in numbers]
    for number in numbers:
        notify("info", f"Run #{number} was let go: a workspace keeps at most {MAX_RUNS} runs (the oldest "
                       "unshared ones go first).", lasting=True)


def remove_run(number: int) -> None:
    ss = st.session_state
    for run in runs():
        if run.number == number:
            if run.job is not None:
                run.job.stop()  # a run still training stops
            if run.id is not None:
                try:
                    store().remove_run(ss.ws, number)
                except StoreUnavailable as exc:
                    notify("error", f"Run #{number} could not be removed now: the run store is unavailable ({exc}).")
                    return
    ss.offline = [r for r in ss.offline if r.number != number]
    ss.run_list = [r for r in runs() if r.number != number]


def share_run(number: int) -> None:
    """Make run ``number``'s read-only link (kept to show beside the run)."""
    ss = st.session_state
    try:
        token = store().share(ss.ws, number)
    except StoreUnavailable as exc:
        notify("error", f"Run #{number} cannot be shared now: the run store is unavailable ({exc}).")
        return
    except UnknownWorkspace:
        notify("warning", f"Run #{number} is no longer in this workspace (removed in another tab?).")
        return
    ss.share_links[number] = share_url(token)


def share_url(token: str) -> str:
    base = (st.context.url or "").rstrip("/")
    return f"{base}/?run={token}"


def copy_shared() -> None:
    """Copy the shared run on show into the visitor's workspace, and show that workspace."""
    ss = st.session_state
    try:  # a viewer without a workspace gets one here, made only when the run is still there
        copy, let_go = store().copy_to_workspace(ss.shared.stored.share_token, ss.ws)
    except StoreUnavailable as exc:
        notify("error", f"The run cannot be copied now: the run store is unavailable ({exc}).")
        return
    except UnknownWorkspace:  # its owner removed it meanwhile
        copy = None
    ss.shared = None
    if copy is None:
        notify("warning", "This run was removed by its owner after you opened it: there is nothing to copy. "
                          + ("Here is your workspace." if ss.ws else "Here is the page as new."))
        ss.ws = ss.ws or open_workspace(None)
        return
    ss.ws = copy.workspace
    notify("success", f"Copied into your workspace as run #{copy.number}.")
    note_let_go(let_go)


def settle_runs() -> bool:
    """At the start of a full script run: read the runs, drop those that ended with nothing to show (saying
    why), and note which have ended, so the live section knows when to redraw the page. True while any trains."""
    ss = st.session_state
    for run in [r for r in load_runs() if r.done and not r.costs]:
        remove_run(run.number)  # what it has to say stays on show until the next training is submitted
        if run.status == "failed":
            notify("error", f"Run #{run.number} failed: {run.message}", lasting=True)
        else:
            notify("info", f"Run #{run.number} was stopped before its first epoch ended; there is nothing to "
                           "keep.", lasting=True)
    ss.seen_done = {r.number for r in runs() if r.done}
    return len(ss.seen_done) < len(runs())


def latest_finished() -> Run | None:
    """The run whose model the page uses: the shared one on show (when it ended with a model), else the
    visitor's latest trained."""
    shared = st.session_state.shared
    candidates = [shared] if shared is not None else [r for r in runs() if r.done]
    done = [r for r in candidates if r.evaluation is not None and r.has_model]
    return done[-1] if done else None


def classifier():
    """The model that reads drawings: the run on show, else the shipped one; words saying which; a key naming it."""
    run = latest_finished()
    if run is not None:
        return run.model, f"run #{run.number} ({100 * run.accuracy:.2f}% on the test set)", run.key
    model, acc, _ = pretrained_model()
    return model, "the shipped pretrained model" + (f" ({100 * acc:.2f}% on the test set)" if acc else ""), "pretrained"


def config_of_classifier():
    """The TrainConfig of the model that classifies (None when unknown)."""
    run = latest_finished()
    return run.config if run is not None else pretrained_model()[2]


def test_accuracy_of(model) -> float | None:
    """The MNIST test accuracy of the classifying model, as recorded when it was trained."""
    run = latest_finished()
    if run is not None and run.model is model:
        return run.accuracy
    shipped, acc, _ = pretrained_model()
    return acc if model is shipped else None
