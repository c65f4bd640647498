"""Compare runs: every run's cost curve overlaid, a table of runs, and removing runs."""

from __future__ import annotations

import numpy as np
import streamlit as st

from dashboard import charts, state
from dashboard.runs import differing, label
from dashboard.settings import format_lr


def compare_section() -> None:
    runs = state.runs()
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
    } for r in runs]
    right.dataframe(table, hide_index=True, width="stretch")
    with right.expander("Remove runs"):
        # One button per run: a click names its run, whatever else changes on the page meanwhile.
        for r in runs:
            name, button = st.columns([4, 1], vertical_alignment="center")
            name.text(label(r, keys) + ("" if r.done else " (training)"))
            button.button("Remove", key=f"remove-{r.number}", on_click=state.remove_run, args=(r.number,))
