"""Training, live: submit trainings to the backend and follow them without blocking the page.

The section is a fragment that redraws itself every half second while a run of
this visitor trains (chart, progress, queue position, Stop); every other part
of the page stays usable meanwhile. When a run ends, the whole page redraws once.
"""

from __future__ import annotations

import streamlit as st

from dashboard import charts, resources, session
from dashboard.settings import format_lr
from mnist_core import TrainConfig
from playground.runs import Run, advice
from playground.workspace import Notice

REFRESH_SECONDS = 0.5


def submit(configs: list[TrainConfig]) -> None:
    """Hand each config to the backend; a setting that cannot train is a message, not a run."""
    for config in configs:
        try:
            job = resources.backend().submit(config)  # a backend that cannot start (Ray unreachable) says so here
        except ValueError as exc:
            session.notify([Notice("error", str(exc))])
            return
        session.add_run(job)


def training_section(configs: list[TrainConfig]) -> None:
    st.subheader("Training, live")
    if configs:
        st.session_state.lasting = []
        submit(configs)
    training = session.settle_runs()
    session.show_notices()
    st.fragment(run_every=REFRESH_SECONDS if training else None)(live)()


def live() -> None:
    runs = session.runs()
    if any(not r.done and r.job is None for r in runs):
        runs = session.load_runs()  # a run another server process trains: its news is in the store
    if any(r.done and r.number not in st.session_state.seen_done for r in runs):
        st.rerun()  # a run has ended: redraw the whole page (compare, mistakes, drawing's model)
    if not runs:
        st.info("Choose settings in the sidebar (» at the top left on a phone) and press **Train**. "
                "With the tutorial's settings (softmax regression, SGD, learning rate 0.1, 10 epochs) "
                "it takes about a second.")
        return
    active = [r for r in runs if not r.done]
    shown = next((r for r in active if r.status == "running"), active[0] if active else runs[-1])
    if active:
        progress(shown, active)
    costs = shown.costs
    if costs:
        st.plotly_chart(charts.live_figure(costs, shown.accuracies, shown.config.epochs),
                        width="stretch", key="live-chart")
    if not active:
        outcome(shown, runs)


def progress(run: Run, active: list[Run]) -> None:
    config = run.config
    what = (f"run #{run.number}: {config.model}, lr {format_lr(config.lr)}, {config.optimizer}, "
            f"batch {config.batch_size}")
    more = f" ({len(active) - 1} more after it)" if len(active) > 1 else ""
    if run.job is None:  # trained by another server process sharing the store: epochs as they are written
        st.info(f"Training {what} on {run.device} ({run.worker or 'another server'}){more}…")
        st.progress(min(len(run.costs) / config.epochs, 1.0), text=f"{len(run.costs)} of {config.epochs} epochs")
        return
    snap = run.job.snapshot()
    if snap.stop_requested:
        st.info(f"Stopping {what}…")
    elif snap.status == "queued":
        ahead = snap.queue_position or 0
        st.info(f"Waiting for a free training slot: {ahead} training{'s' if ahead != 1 else ''} queued ahead "
                f"of {what}{more}. You can use the rest of the page meanwhile.")
    else:
        st.info(f"Training {what} on {snap.device} ({snap.worker}){more}…")
        done = snap.batches_done / snap.batches_total if snap.batches_total else 0.0
        st.progress(min(done, 1.0), text=f"epoch {min(len(snap.epochs) + 1, config.epochs)} of {config.epochs}"
                    if snap.note == "training" else snap.note)
    st.button("Stop training", key="stop", on_click=stop, args=([r.number for r in active],))


def stop(numbers: list[int]) -> None:
    for run in session.runs():
        if run.number in numbers and run.job is not None:
            run.job.stop()


def outcome(run: Run, runs: list[Run]) -> None:
    if run.status == "interrupted":
        st.warning(f"Run #{run.number} was interrupted after {len(run.costs)} epoch(s): the server stopped "
                   "while it trained. Its epochs are kept; train again for a model.")
    if run.status == "stopped":
        st.warning(f"Run #{run.number} was stopped after {len(run.costs)} epoch(s); its model and its "
                   "evaluation are kept.")
    tip = advice(run)
    if tip:
        getattr(st, tip[0])(tip[1])
    previous = [r for r in runs if r is not run and r.done and r.accuracy is not None and r.number < run.number]
    c1, c2, c3 = st.columns(3)
    acc = run.accuracy
    delta = None
    if acc is not None and previous:
        delta = f"{100 * (acc - previous[-1].accuracy):+.2f} pts vs run #{previous[-1].number}"
    c1.metric("Test accuracy", f"{100 * acc:.2f}%" if acc is not None else "—", delta)
    c2.metric("Training time", f"{run.seconds:.2f} s")
    c3.metric("Device", run.device)
    if run.worker:
        st.caption(f"Trained by {run.worker}.")
