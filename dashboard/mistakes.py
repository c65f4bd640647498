"""Mistakes: the misclassified test images, most confident first; the confusion matrix; each digit's accuracy."""

from __future__ import annotations

import streamlit as st

from dashboard import charts, i18n
from dashboard.i18n import _
from playground.runs import Run

MISTAKES_SHOWN = 40


def mistakes_section(run: Run, data) -> None:
    st.subheader(_("Mistakes of run #{number}").format(number=run.number))
    ev = run.evaluation
    st.caption(_("{count} of {total} test images misclassified; the most confident mistakes first.").format(
        count=i18n.number(len(ev.mistake_indices)), total=i18n.number(len(data.test_labels))))
    digits = ["any"] + list(range(10))
    c1, c2 = st.columns(2)
    any_digit = {"format_func": {"any": _("any"), **{d: str(d) for d in range(10)}}.get}
    true_digit = c1.selectbox(_("True digit"), digits, key="filter_true", **any_digit)
    pred_digit = c2.selectbox(_("Predicted digit"), digits, key="filter_pred", **any_digit)
    shown = ev.mistakes(None if true_digit == "any" else true_digit, None if pred_digit == "any" else pred_digit,
                        limit=MISTAKES_SHOWN)
    if not len(shown):
        st.info(_("No mistakes of that kind."))
    else:
        images = data.test_images[shown.indices].cpu().numpy()
        big = images.repeat(3, axis=1).repeat(3, axis=2)  # 84 px, crisp
        captions = [f"{t} → {p} ({100 * c:.0f}%)" for t, p, c in zip(shown.true, shown.pred, shown.confidence)]
        st.image(list(big), caption=captions, width=84)
    c1, c2 = st.columns(2)
    c1.plotly_chart(charts.confusion_figure(ev.confusion, data.classes), width="stretch", key="confusion")
    c2.plotly_chart(charts.per_class_figure(ev.per_class_accuracy, data.classes), width="stretch", key="per_class")
