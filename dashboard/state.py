"""What the page keeps: shared resources (once per server process) and each visitor's session.

The trainings themselves live in a job backend (mnist_core.jobs), not in the
script run: a click re-runs the script, never ends a training.
"""

from __future__ import annotations

import os
import sys

import streamlit as st

from dashboard.runs import Run
from dashboard.settings import KEYS, from_query
from mnist_core import load_checkpoint
from mnist_core.checkpoint import pretrained_path
from mnist_core.jobs import DataSpec, get_backend, shared_data

MAX_RUNS = 20  # runs kept per visitor (each holds its model)


# In-process trainings share the GIL with the page's own Python work (figures, protobuf, websockets);
# at Python's default 5 ms switch interval a training waits behind it: the tutorial's 10 epochs took
# 5.17 s (median) beside page-like work instead of 1.36 s alone in a thread, and 4.0 s at 0.5 ms
# (benchmarks/README.md, section 8).
GIL_SWITCH_SECONDS = 0.0005


@st.cache_resource
def backend():
    """Where trainings run: ``MNIST_BACKEND`` (thread, the default, or ray); one per server process."""
    if os.environ.get("MNIST_BACKEND") == "ray" and not os.environ.get("RAY_ADDRESS"):
        # A Ray started inside the Streamlit server took trainings but never ran them (its workers waited
        # on the cluster's store); a cluster of its own (ray start --head) works: say so, never hang.
        raise ValueError("The page's Ray backend needs a running Ray cluster: start one with "
                         "`ray start --head --port=6379` and set RAY_ADDRESS=127.0.0.1:6379 (README, Scale out).")
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


def init_session() -> None:
    ss = st.session_state
    if "runs" not in ss:
        ss.runs = []
        ss.next_run = 1
        ss.canvas_key = 0
        ss.notices = []
        ss.seen_done = set()
        settings = from_query(st.query_params.to_dict())
        for key in KEYS:
            ss[key] = settings[key]


def runs() -> list[Run]:
    return st.session_state.runs


def notify(level: str, message: str) -> None:
    """A message shown once, at the top of the training section."""
    st.session_state.notices.append((level, message))


def add_run(job) -> Run:
    ss = st.session_state
    run = Run(ss.next_run, job)
    ss.next_run += 1
    ss.runs.append(run)
    finished = [r for r in ss.runs if r.done]
    while len(ss.runs) > MAX_RUNS and finished:
        oldest = finished.pop(0)
        ss.runs.remove(oldest)
        notify("info", f"Run #{oldest.number} was let go: a visitor keeps at most {MAX_RUNS} runs.")
    return run


def remove_run(number: int) -> None:
    for run in runs():
        if run.number == number:
            run.job.stop()  # a run still training stops
    st.session_state.runs = [r for r in runs() if r.number != number]


def settle_runs() -> bool:
    """At the start of a full script run: drop runs that ended with nothing to show (saying why), and
    note which runs have ended, so the live section knows when to redraw the whole page. True while any trains."""
    ss = st.session_state
    for run in [r for r in ss.runs if r.done and not r.costs]:
        ss.runs.remove(run)
        if run.status == "failed":
            notify("error", f"Run #{run.number} failed: {run.message}")
        else:
            notify("info", f"Run #{run.number} was stopped before its first epoch ended; there is nothing to keep.")
    ss.seen_done = {r.number for r in ss.runs if r.done}
    return len(ss.seen_done) < len(ss.runs)


def latest_finished() -> Run | None:
    done = [r for r in runs() if r.done and r.model is not None and r.evaluation is not None]
    return done[-1] if done else None


def classifier():
    """The visitor's latest trained model, else the shipped one; words saying which; and a key naming it."""
    run = latest_finished()
    if run is not None:
        return run.model, f"run #{run.number} ({100 * run.accuracy:.2f}% on the test set)", run.job.id
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
