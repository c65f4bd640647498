"""MNIST Playground: train a digit classifier from the sidebar, watch it learn, draw a digit.

This file only wires the page; each section lives in its own module under
``dashboard/`` and every computation is a ``mnist_core`` call. The page reads
top to bottom like the user's journey: choose settings, train, watch the cost
fall, compare runs, inspect mistakes, see what the model learned, draw a
digit, read a photo of your own handwriting.
"""

from dataclasses import replace

import streamlit as st

from dashboard import i18n, resources, session
from dashboard.i18n import _
from dashboard.code_view import code_section
from dashboard.compare import compare_section
from dashboard.draw import draw_section
from dashboard.handwriting import handwriting_section
from dashboard.learned import learned_section
from dashboard.mistakes import mistakes_section
from dashboard.settings import SWEEP_LRS
from dashboard.shared import shared_section, shared_sidebar
from dashboard.sidebar import sidebar
from dashboard.training import training_section
from dashboard.upload import upload_section
from mnist_core import DataError

st.set_page_config(page_title="MNIST Playground", page_icon="✏️", layout="wide")


def main() -> None:
    session.init_session()
    st.title("MNIST Playground")
    st.caption(_("Handwritten-digit recognition with PyTorch: from the tutorial's softmax regression "
                 "(~90%) upwards. Change a setting, press Train, and compare."))
    if st.session_state.shared is not None:
        shared_page(st.session_state.shared)
        return
    config, train_clicked, sweep_clicked = sidebar()
    configs = []
    if train_clicked:
        configs = [config]
    elif sweep_clicked:
        configs = [replace(config, lr=lr) for lr in SWEEP_LRS]
    training_section(configs)
    code_section(config)
    compare_section()
    model_sections(session.latest_finished())
    draw_section()
    handwriting_section()
    upload_section()


def shared_page(run) -> None:
    """A run someone shared: read-only; drawing and photos use its model (dashboard.shared)."""
    shared_sidebar(run)
    session.show_notices()
    shared_section(run)
    model_sections(session.latest_finished())  # None when the shared run ended without a model
    draw_section()
    upload_section()


def model_sections(run) -> None:
    if run is None:
        return
    try:
        data = resources.mnist()
    except DataError as exc:
        st.error(i18n.message(exc))
    else:
        mistakes_section(run, data)
        learned_section(run, data.classes)


main()
