"""The card's page: choose settings, train, watch the cost fall, the test accuracy, the mistakes, draw a digit.

A shared run (``?run=``) opens here too, read-only: its curve and numbers instead of the sidebar's experiment.
"""

import streamlit as st

from dashboard import i18n, navigation, resources, session
from dashboard.code_view import code_section
from dashboard.draw import draw_section
from dashboard.i18n import _
from dashboard.mistakes import mistakes_section
from dashboard.shared import shared_section, shared_sidebar
from dashboard.sidebar import sidebar
from dashboard.training import training_section
from mnist_core import DataError
from playground.runs import sweep_configs


def card() -> None:
    config, train_clicked, sweep_clicked = sidebar()
    configs = []
    if train_clicked:
        configs = [config]
    elif sweep_clicked:
        configs = sweep_configs(config)
    training_section(configs)
    code_section(config)
    if session.runs():
        st.page_link(navigation.RUNS, label=_("Compare your runs; share, download or remove them"),
                     icon=":material/compare_arrows:", query_params=st.query_params.to_dict())
    mistakes(session.latest_finished())
    draw_section()


def shared_card(run) -> None:
    """A run someone shared: read-only; drawings use its model (dashboard.shared)."""
    shared_sidebar(run)
    session.show_notices()
    shared_section(run)
    mistakes(session.latest_finished())  # None when the shared run ended without a model
    draw_section()


def mistakes(run) -> None:
    if run is None:
        return
    try:
        data = resources.mnist()
    except DataError as exc:
        st.error(i18n.message(exc))
    else:
        mistakes_section(run, data)


st.title("MNIST Playground")
st.caption(_("Handwritten-digit recognition with PyTorch: from the tutorial's softmax regression "
             "(~90%) upwards. Change a setting, press Train, and compare."))
shared = session.visitor().shared
if shared is not None:
    shared_card(shared)
else:
    card()
