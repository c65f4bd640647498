"""Compare runs: the chosen runs' cost curves overlaid, a table of every run; share, download or remove each."""

from __future__ import annotations

from functools import partial

import numpy as np
import streamlit as st
from plotly.colors import DEFAULT_PLOTLY_COLORS, sample_colorscale

from dashboard import charts, i18n, session
from dashboard.i18n import _, pgettext
from dashboard.settings import format_lr
from mnist_core.export import onnx_available
from playground import runs as runs_rules
from playground.runs import SWEEP_LRS, Run, checkpoint_bytes, curves_csv, differing, label, onnx_bytes

CHARTED_BY_DEFAULT = 4  # the latest runs on the chart until the visitor chooses: a sweep's four fit
SWEEP_HUES = ("Purples", "Oranges", "Greens", "Reds", "Blues")


def sweeps(runs: list[Run]) -> dict[int, str]:
    """Run number -> the name of the sweep it belongs to (playground.runs.sweeps), in the visitor's words."""
    return {number: _("sweep #{first}–#{last}").format(first=first, last=last)
            for number, (first, last) in runs_rules.sweeps(runs).items()}


def default_charted(runs: list[Run], sweep_of: dict[int, str]) -> list[int]:
    """The latest few runs, each sweep among them whole."""
    latest = runs[-CHARTED_BY_DEFAULT:]
    wanted = {sweep_of[r.number] for r in latest if r.number in sweep_of}
    return [r.number for r in runs if r in latest or sweep_of.get(r.number) in wanted]


def curves_of(runs: list[Run], sweep_of: dict[int, str]) -> list[charts.Curve]:
    """Each charted run's curve: ``#N`` in the legend (with its lr in a sweep, or the one setting that differs
    when only one does), every differing setting on hover, a sweep's runs in one legend group shaded in one
    hue (lr low to high)."""
    keys = differing(runs)
    hue = {g: SWEEP_HUES[i % len(SWEEP_HUES)] for i, g in enumerate(dict.fromkeys(sweep_of.values()))}
    singles = iter(DEFAULT_PLOTLY_COLORS * 3)
    curves = []
    for r in runs:
        if not r.costs or not np.isfinite(r.costs).all():
            continue
        group = sweep_of.get(r.number, "")
        if group:
            shade = 0.45 + 0.55 * SWEEP_LRS.index(r.config.lr) / (len(SWEEP_LRS) - 1)
            color = sample_colorscale(hue[group], [shade])[0]
        else:
            color = next(singles)
        if group:  # what a sweep varies
            name = f"#{r.number} lr={format_lr(r.config.lr)}"
        else:
            name = label(r, keys, i18n.words()) if len(keys) == 1 else f"#{r.number}"
        curves.append(charts.Curve(name, r.costs, hover=label(r, keys, i18n.words()), group=group, color=color))
    return curves


def compare_section() -> None:
    runs = session.runs()
    if not runs:
        return
    st.subheader(_("Compare runs"))
    sweep_of = sweeps(runs)
    left, right = st.columns([3, 2])
    with left.container(key="compare"):
        # keyed by the runs on show: a new run resets the choice to the latest few, which then include it
        charted = st.multiselect(
            _("Runs on the chart"), [r.number for r in runs], default=default_charted(runs, sweep_of),
            format_func=lambda n: f"#{n}",
            key=f"charted-{len(runs)}-{runs[-1].number}")
        curves = curves_of([r for r in runs if r.number in charted], sweep_of)
        spread = [c for curve in curves for c in curve.costs]
        log_y = bool(spread) and max(spread) / max(min(spread), 1e-9) > 50
        st.plotly_chart(charts.compare_figure(curves, log_y=log_y), width="stretch", key="compare-chart")
    table = [{
        _("run"): r.number,
        _("test accuracy (%)"): round(100 * r.accuracy, 2) if r.accuracy is not None else None,
        _("sweep"): sweep_of.get(r.number, ""),
        **{column(k): (format_lr(v) if k == "lr" else v) for k, v in r.settings().items()},
        _("seconds"): round(r.seconds, 2), _("device"): r.device, _("status"): i18n.status_word(r.status),
        _("shared"): r.stored is not None and r.stored.share_token is not None,
    } for r in runs]
    right.dataframe(table, hide_index=True, width="stretch")
    keys = differing(runs)
    with st.expander(_("Share, download or remove a run")):
        # One row of buttons per run: a click names its run, whatever else changes on the page meanwhile.
        for r in runs:
            row = st.container(horizontal=True, vertical_alignment="center", key=f"run-row-{r.number}")
            name = label(r, keys, i18n.words())
            row.text(name if r.done else _("{run} (training)").format(run=name))
            ready = r.done and r.id is not None
            row.button(_("Share"), key=f"share-{r.number}", on_click=session.share_run, args=(r.number,),
                       disabled=not ready, help=_("A read-only link to this run: its curves, its numbers and its "
                                                  "model, for anyone who opens it.") if r.id is not None else
                                                _("The run store is unavailable: this run lives in this tab only "
                                                  "and cannot be shared."))
            if r.stored is not None and r.stored.share_token is not None:
                row.button(_("Unshare"), key=f"unshare-{r.number}", on_click=session.unshare_run, args=(r.number,),
                           help=_("Its share link stops working; the run stays in your workspace."))
            with row.popover(_("Download"), disabled=not r.done or not r.has_model):
                downloads(r)
            with row.popover(_("Remove")):  # no undo: a second, explicit click
                st.button(_("Remove run #{number} for good").format(number=r.number), key=f"remove-{r.number}",
                          type="primary", on_click=session.remove_run, args=(r.number,))
            link = session.visitor().share_links.get(r.number)
            if link is not None:
                st.code(link, language=None)
                st.caption(_("Anyone with this link sees this run read-only; it is not your workspace's address."))


def column(key: str) -> str:
    """A setting's column in the table: in English the code's own name (``batch_size``, as the script and the
    address write it), in another language the usual word."""
    return {"model": pgettext("table column", "model"), "optimizer": pgettext("table column", "optimizer"),
            "lr": pgettext("table column", "lr"), "batch_size": pgettext("table column", "batch_size"),
            "epochs": pgettext("table column", "epochs"), "seed": pgettext("table column", "seed")}[key]


def downloads(run) -> None:
    """The run's model (checkpoint, ONNX) and its curves (CSV), made when clicked."""
    stem = f"mnist-run{run.number}-{run.config.model}"
    st.download_button(_("Checkpoint (.pt)"), partial(checkpoint_bytes, run), file_name=f"{stem}.pt",
                       mime="application/octet-stream", on_click="ignore", key=f"pt-{run.number}",
                       help=_("Loads with mnist_core.load_checkpoint (any device)."))
    if onnx_available():
        st.download_button(_("ONNX model"), partial(onnx_bytes, run), file_name=f"{stem}.onnx",
                           mime="application/octet-stream", on_click="ignore", key=f"onnx-{run.number}",
                           help=_("For ONNX Runtime and other tools: input (N, 1, 28, 28) floats in [0, 1]."))
    else:
        st.caption(_("ONNX export is not installed on this server (requirements-export.txt)."))
    st.download_button(_("Curves (.csv)"), partial(curves_csv, run), file_name=f"{stem}-curves.csv",
                       mime="text/csv", on_click="ignore", key=f"csv-{run.number}")
