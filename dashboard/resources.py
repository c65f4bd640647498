"""What the page shares among its visitors, once per server process (Streamlit's cache_resource).

The trainings live in a job backend (mnist_core.jobs) and the runs in a store
(playground.store), not in the script run: a click re-runs the script, never
ends a training.
"""

from __future__ import annotations

import io
import sys
import threading

import streamlit as st

from dashboard.i18n import _
from mnist_core import load_checkpoint
from mnist_core.checkpoint import pretrained_path
from mnist_core.jobs import DataSpec, Job, get_backend, shared_data
from playground.store import RunStore

# In-process trainings share the GIL with the page's own Python work (figures, protobuf, websockets);
# at Python's default 5 ms switch interval a training waits behind it: the tutorial's 10 epochs took
# 5.17 s (median) beside page-like work instead of 1.36 s alone in a thread, and 4.0 s at 0.5 ms
# (benchmarks/README.md, section 8).
GIL_SWITCH_SECONDS = 0.0005


@st.cache_resource(show_spinner=False)
def backend():
    """Where trainings run: ``MNIST_BACKEND`` (thread, the default, or ray: ``RAY_ADDRESS``'s cluster, else a
    local Ray that ends with this server); one per server process. Asked for inside the visitor's submitting
    action (dashboard.session), so it draws nothing: a spinner is a Streamlit call, where a click stops a run."""
    b = get_backend()
    if b.name == "thread":
        sys.setswitchinterval(GIL_SWITCH_SECONDS)
    return b


def mnist():
    """MNIST on the CPU for showing images (the same tensors the in-process trainings use). While a server loads
    it, its visitors are told so in their own language: a cache decorator's spinner text is fixed at import."""
    if _mnist_loaded.is_set():
        return _mnist()
    with st.spinner(_("Loading MNIST (once per server)…")):
        data = _mnist()
    _mnist_loaded.set()
    return data


_mnist_loaded = threading.Event()


@st.cache_resource(show_spinner=False)
def _mnist():
    return shared_data(DataSpec(), "cpu")


@st.cache_resource
def pretrained_model():
    model, info = load_checkpoint(pretrained_path(), device="cpu")
    return model, info["metrics"].get("test_accuracy"), info["config"]


@st.cache_resource(show_spinner=False)
def store() -> RunStore:
    """The run store (MNIST_DB_URL, else SQLite under MNIST_STATE_DIR); it prunes unseen workspaces itself, at
    most once an hour. Not cached while it cannot be reached: each call tries again (StoreUnavailable)."""
    return RunStore()


@st.cache_resource
def live_jobs() -> dict[int, Job]:
    """Trainings this server process runs, by run id, until their result is in the store."""
    return {}


@st.cache_resource
def unsaved_runs() -> set[int]:
    """Ids of runs that ended in this server process but whose result the store has not taken (yet)."""
    return set()


@st.cache_resource(max_entries=64, show_spinner=False)
def stored_model(run_id: int):
    """A stored run's model on the CPU, rebuilt from its checkpoint (once per server, for every visitor)."""
    blob = store().checkpoint(run_id)
    return load_checkpoint(io.BytesIO(blob), device="cpu")[0] if blob else None
