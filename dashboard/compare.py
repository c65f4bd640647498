"""Compare runs: every run's cost curve overlaid, a table of runs; share, download or remove each."""

from __future__ import annotations

from functools import partial

import numpy as np
import streamlit as st

from dashboard import charts, session
from dashboard.settings import format_lr
from mnist_core.export import onnx_available
from playground.runs import checkpoint_bytes, curves_csv, differing, label, onnx_bytes


def compare_section() -> None:
    runs = session.runs()
    if not runs:
        return
    st.subheader("Compare runs")
    keys = differing(runs)
    curves = [(label(r, keys), r.costs) for r in runs if r.costs and np.isfinite(r.costs).all()]
    spread = [c for _, cs in curves for c in cs]
    log_y = bool(spread) and max(spread) / max(min(spread), 1e-9) > 50
    left, right = st.columns([3, 2])
    with left.container(key="compare"):
        st.plotly_chart(charts.compare_figure(curves, log_y=log_y), width="stretch", key="compare-chart")
    table = [{
        "run": r.number, **{k: (format_lr(v) if k == "lr" else v) for k, v in r.settings().items()},
        "test accuracy (%)": round(100 * r.accuracy, 2) if r.accuracy is not None else None,
        "seconds": round(r.seconds, 2), "device": r.device, "status": r.status,
        "shared": r.stored is not None and r.stored.share_token is not None,
    } for r in runs]
    right.dataframe(table, hide_index=True, width="stretch")
    with st.expander("Share, download or remove a run"):
        # One row of buttons per run: a click names its run, whatever else changes on the page meanwhile.
        for r in runs:
            row = st.container(horizontal=True, vertical_alignment="center", key=f"run-row-{r.number}")
            row.text(label(r, keys) + ("" if r.done else " (training)"))
            ready = r.done and r.id is not None
            row.button("Share", key=f"share-{r.number}", on_click=session.share_run, args=(r.number,),
                       disabled=not ready, help="A read-only link to this run: its curves, its numbers and its "
                                                "model, for anyone who opens it." if r.id is not None else
                                                "The run store is unavailable: this run lives in this tab only "
                                                "and cannot be shared.")
            with row.popover("Download", disabled=not r.done or not r.has_model):
                downloads(r)
            row.button("Remove", key=f"remove-{r.number}", on_click=session.remove_run, args=(r.number,))
            if r.number in st.session_state.share_links:
                st.code(st.session_state.share_links[r.number], language=None)
                st.caption("Anyone with this link sees this run read-only; it is not your workspace's address.")


def downloads(run) -> None:
    """The run's model (checkpoint, ONNX) and its curves (CSV), made when clicked."""
    stem = f"mnist-run{run.number}-{run.config.model}"
    st.download_button("Checkpoint (.pt)", partial(checkpoint_bytes, run), file_name=f"{stem}.pt",
                       mime="application/octet-stream", on_click="ignore", key=f"pt-{run.number}",
                       help="Loads with mnist_core.load_checkpoint (any device).")
    if onnx_available():
        st.download_button("ONNX model", partial(onnx_bytes, run), file_name=f"{stem}.onnx",
                           mime="application/octet-stream", on_click="ignore", key=f"onnx-{run.number}",
                           help="For ONNX Runtime and other tools: input (N, 1, 28, 28) floats in [0, 1].")
    else:
        st.caption("ONNX export is not installed on this server (requirements-export.txt).")
    st.download_button("Curves (.csv)", partial(curves_csv, run), file_name=f"{stem}-curves.csv",
                       mime="text/csv", on_click="ignore", key=f"csv-{run.number}")
