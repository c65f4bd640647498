"""A shared run, read-only: what its owner saw (curves, numbers); the pages read drawings and photos with its model."""

from __future__ import annotations

import streamlit as st

from dashboard import charts, session
from dashboard.settings import format_lr
from playground.runs import Run, advice
from playground.store import keep_days


def shared_sidebar(run: Run) -> None:
    with st.sidebar:
        st.header("A shared run")
        st.caption("Read-only: nobody can change or remove it from this link. This link works while its owner's "
                   f"workspace is kept: {keep_days()} days after its last visit.")
        st.dataframe([{"setting": k, "value": format_lr(v) if k == "lr" else str(v)}
                      for k, v in run.config.to_dict().items()], hide_index=True, width="stretch")
        st.button("Copy to my workspace", key="copy-shared", type="primary", on_click=session.copy_shared,
                  width="stretch", help="Keep this run beside your own, to compare and build on it.")
        if st.session_state.ws is not None:  # the address named the viewer's own workspace too
            st.link_button("Back to my workspace", f"?ws={st.session_state.ws}", width="stretch")
        else:
            st.link_button("Start a workspace of my own", "?", width="stretch",
                           help="A new, empty page of your own, to train on.")


def shared_section(run: Run) -> None:
    if run.tuned_from is not None:  # its settings are the fine-tune's, not ones anybody chose
        what = f"{run.config.model} fine-tuned on its owner's handwriting"
    else:
        what = f"{run.config.model}, lr {format_lr(run.config.lr)}, {run.config.optimizer}"
    st.subheader(f"Shared run: {what}, {len(run.costs)} epoch{'s' if len(run.costs) != 1 else ''}")
    if session.latest_finished() is run:
        st.info("Someone shared this run with you. Draw a digit below, or upload a photo (Your handwriting): this run's model reads it.")
    else:
        st.info(f"Someone shared this run with you. It ended without a model to show ({run.status}): here is what "
                "it recorded; drawings and photos are read by the shipped model.")
    tip = advice(run)
    if tip:
        getattr(st, tip[0])(tip[1])
    c1, c2, c3 = st.columns(3)
    c1.metric("Test accuracy", f"{100 * run.accuracy:.2f}%" if run.accuracy is not None else "—")
    c2.metric("Training time", f"{run.seconds:.2f} s")
    c3.metric("Device", run.device)
    if run.costs:
        st.plotly_chart(charts.live_figure(run.costs, run.accuracies, run.config.epochs), width="stretch",
                        key="shared-chart")
