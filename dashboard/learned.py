"""What the model learned: for the linear model, its ten weight templates."""

from __future__ import annotations

import streamlit as st

from dashboard import charts
from dashboard.i18n import _
from mnist_core.explain import linear_templates
from playground.runs import Run


def learned_section(run: Run, classes) -> None:
    if run.config.model != "linear":
        return
    st.subheader(_("What the model learned"))
    st.caption(_("The linear model scores each digit by a weighted sum of the 784 pixels: the 28 × 28 image "
                 "flattened into one row of 784 numbers, so each digit has 784 weights, shown here back on the "
                 "28 × 28 grid. Its ten weight templates: red pixels count for the digit, blue ones against it."))
    with st.container(key="weights"):
        st.image(charts.weights_image(linear_templates(run.model), classes),
                 caption=_("Each template is labelled with its digit; white = weight 0."))
