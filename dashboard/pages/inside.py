"""Inside the model: what the model that reads drawings computes for the digit drawn on the Train page, or for
a test image; for the linear model, its weight templates."""

import streamlit as st

from dashboard import i18n, navigation, resources, session
from dashboard.classifier import classifier
from dashboard.i18n import _
from dashboard.inside import inside_section
from dashboard.learned import learned_section
from mnist_core import DataError

navigation.follow_runs()
model, source, key = classifier()
st.caption(_("Looking inside {source}.").format(source=source))
with st.container(key="inside"):
    # a fragment: picking a test image or a point on the map redraws these views, not the templates below
    st.fragment(inside_section)(model, key, st.session_state.get("drawn"))
run = session.latest_finished()
if run is not None:
    try:
        classes = resources.mnist().classes
    except DataError as exc:
        st.error(i18n.message(exc))
    else:
        learned_section(run, classes)
