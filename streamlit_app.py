"""MNIST Playground: train a digit classifier from the sidebar, watch it learn, draw a digit.

This file only wires the pages (dashboard.navigation); each page is a file under ``dashboard/pages/`` that calls
its sections, each section lives in its own module under ``dashboard/`` and every computation is a
``mnist_core`` call. The card's page (Train) reads top to bottom like the user's journey: choose settings,
train, watch the cost fall, inspect mistakes, draw a digit; Inside the model, Your handwriting and Runs go
deeper.
"""

import streamlit as st

from dashboard import i18n, navigation, session

st.set_page_config(page_title="MNIST Playground", page_icon="✏️", layout="wide")
session.init_session()
navigation.keep_settings()
navigation.keep_address()
page = st.navigation(navigation.pages(), position="top")
with st.sidebar:
    i18n.language_switch()  # every page's, at the top of its sidebar
st.session_state.page_path = page.url_path  # what the address has beyond the app's own (session.app_url)
page.run()
