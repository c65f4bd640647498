"""A shared run, read-only: what its owner saw (curves, numbers); the pages read drawings and photos with its model."""

from __future__ import annotations

import streamlit as st

from dashboard import charts, i18n, session
from dashboard.i18n import _, ngettext
from dashboard.settings import format_lr
from playground.runs import Run, advice
from playground.store import keep_days


def shared_sidebar(run: Run) -> None:
    with st.sidebar:
        st.header(_("A shared run"))
        st.caption(_("Read-only: nobody can change or remove it from this link. This link works while its owner's "
                     "workspace is kept: {days} days after its last visit.").format(days=keep_days()))
        st.dataframe([{_("setting"): k, _("value"): format_lr(v) if k == "lr" else str(v)}
                      for k, v in run.config.to_dict().items()], hide_index=True, width="stretch")
        st.button(_("Copy to my workspace"), key="copy-shared", type="primary", on_click=session.copy_shared,
                  width="stretch", help=_("Keep this run beside your own, to compare and build on it."))
        lang = "&".join(f"{k}={v}" for k, v in i18n.in_address().items())
        ws = session.visitor().ws
        if ws is not None:  # the address named the viewer's own workspace too
            st.link_button(_("Back to my workspace"), f"?ws={ws}" + (f"&{lang}" if lang else ""),
                           width="stretch")
        else:
            st.link_button(_("Start a workspace of my own"), f"?{lang}", width="stretch",
                           help=_("A new, empty page of your own, to train on."))


def shared_section(run: Run) -> None:
    if run.tuned_from is not None:  # its settings are the fine-tune's, not ones anybody chose
        what = _("{model} fine-tuned on its owner's handwriting").format(model=run.config.model)
    else:
        what = _("{model}, lr {lr}, {optimizer}").format(model=run.config.model, lr=format_lr(run.config.lr),
                                                         optimizer=run.config.optimizer)
    st.subheader(ngettext("Shared run: {what}, {count} epoch", "Shared run: {what}, {count} epochs",
                          len(run.costs)).format(what=what, count=len(run.costs)))
    if session.latest_finished() is run:
        st.info(_("Someone shared this run with you. Draw a digit below, or upload a photo (Your handwriting): "
                  "this run's model reads it."))
    else:
        st.info(_("Someone shared this run with you. It ended without a model to show ({status}): here is what it "
                  "recorded; drawings and photos are read by the shipped model.").format(
            status=i18n.status_word(run.status)))
    tip = advice(run, i18n.words(), i18n.core_words())
    if tip:
        getattr(st, tip[0])(tip[1])
    c1, c2, c3 = st.columns(3)
    c1.metric(_("Test accuracy"), i18n.percent(run.accuracy) if run.accuracy is not None else "—")
    c2.metric(_("Training time"), i18n.seconds(run.seconds))
    c3.metric(_("Device"), run.device)
    if run.costs:
        st.plotly_chart(charts.live_figure(run.costs, run.accuracies, run.config.epochs), width="stretch",
                        key="shared-chart")
