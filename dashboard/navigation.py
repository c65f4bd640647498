"""The pages and what carries over between them: the settings, the address, the runs.

The card's page (Train) is the tutorial's whole journey; the others go deeper. A click reruns its own page
only, so a visit elsewhere never reruns the sidebar or the live chart. Streamlit forgets what a page does not
draw and a change of page clears the address's query: both are written back here, once per run, before the
page runs.
"""

from __future__ import annotations

import streamlit as st

from dashboard import i18n, session, training
from dashboard.i18n import _
from dashboard.settings import KEYS
from dashboard.sidebar import sync_url

TRAIN = "dashboard/pages/train.py"
INSIDE = "dashboard/pages/inside.py"
HANDWRITING = "dashboard/pages/handwriting.py"
RUNS = "dashboard/pages/runs.py"


def pages() -> list[st.Page]:
    """Train first, at the address's root, so every link made before the pages (``?ws=``, ``?run=``) opens it;
    a shared run's viewer has no runs of their own to list."""
    shared = session.visitor().shared is not None
    found = [st.Page(TRAIN, title=_("A shared run") if shared else _("Train"), icon=":material/edit:", default=True),
             st.Page(INSIDE, title=_("Inside the model"), icon=":material/neurology:", url_path="inside"),
             st.Page(HANDWRITING, title=_("Your handwriting"), icon=":material/draw:", url_path="handwriting")]
    if not shared:
        found.append(st.Page(RUNS, title=_("Runs"), icon=":material/compare_arrows:", url_path="runs"))
    return found


def keep_settings() -> None:
    """The sidebar's settings outlive a visit to a page without the sidebar. Streamlit drops a widget's value
    on a change of page and at the end of a run that does not draw it; a copy of its own (``kept_settings``)
    puts it back, as a value the script set, which Streamlit keeps."""
    ss = st.session_state
    kept = ss.setdefault("kept_settings", {})
    for key in KEYS:
        if key in ss:
            kept[key] = ss[key]
        ss[key] = kept[key]


def keep_address() -> None:
    """The workspace and the settings (or the shared run) in the address on every page: a reload, a bookmark
    or a copied address of any page opens the same."""
    ss, visitor = st.session_state, session.visitor()
    if visitor.shared is None:
        sync_url({key: ss[key] for key in KEYS})
        return
    wanted = {"run": visitor.shared.stored.share_token, **({"ws": visitor.ws} if visitor.ws is not None else {}),
              **i18n.in_address(), **visitor.unread}
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)


def follow_runs() -> None:
    """For the pages beside the card's: read the runs, say what there is to say, and while one trains, redraw
    the page when it ends (its model then reads drawings; the runs table shows it)."""
    training_now = session.settle_runs()
    session.show_notices()
    st.fragment(run_every=training.REFRESH_SECONDS if training_now else None)(training.runs_or_rerun)()
