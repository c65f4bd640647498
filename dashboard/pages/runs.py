"""Runs: the workspace's runs compared (curves, a table), each shared, downloaded or removed."""

import streamlit as st

from dashboard import navigation, session
from dashboard.compare import compare_section
from dashboard.i18n import _

navigation.follow_runs()
if session.runs():
    compare_section()
else:
    st.info(_("No runs yet: train one on the Train page, and it is listed here."))
    st.page_link(navigation.TRAIN, label=_("Train"), icon=":material/edit:", query_params=st.query_params.to_dict())
