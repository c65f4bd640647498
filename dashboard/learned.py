"""What the model learned: for the linear model, its ten weight templates."""

from __future__ import annotations

import streamlit as st

from dashboard import charts
from dashboard.runs import Run


def learned_section(run: Run, classes) -> None:
    if run.config.model != "linear":
        return
    st.subheader("What the model learned")
    st.caption("The linear model scores each digit by a weighted sum of the 784 pixels. Its ten weight "
               "templates: red pixels count for the digit, blue ones against it.")
    weight = run.model[-1].weight.detach().cpu().numpy()  # (10, 784)
    st.plotly_chart(charts.weights_figure(weight, classes), width="stretch", key="weights")
