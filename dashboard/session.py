"""Each visitor's session: their state (a playground.workspace.Visitor, one object in st.session_state), opened
once from the page's address, the page's notices, and the visitor's actions, which playground carries out and whose
notices are shown here.

An action reads the session state before it starts and never during: a click stops the script run under way at
its next read or write of session state (or its next element) and starts a new one, so an action that read it
midway (a training submitted, its run not yet kept) could be stopped half done. playground's actions work on the
Visitor object itself, whole and one at a time.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from dashboard import i18n, resources
from dashboard.settings import KEYS, from_query
from mnist_core import TrainConfig
from mnist_core.jobs import Job
from playground.runs import Run
from playground.workspace import Notice, Visitor, Workspace


def visitor() -> Visitor:
    """This visitor's state (see :func:`init_session`)."""
    return st.session_state.visitor


def workspace(state: Visitor | None = None) -> Workspace:
    """This visitor's actions on their state (or on ``state``) and the server's store and trainings."""
    return Workspace(state or visitor(), resources.store, resources.live_jobs(), resources.stored_model,
                     resources.unsaved_runs(), words=i18n.words())


def init_session() -> None:
    """Once per browser tab: the language, the settings and the workspace (or the shared run) from the address.
    The visitor is put in session state last: a first script run stopped before then opens the tab again."""
    ss = st.session_state
    i18n.init_language()
    if "visitor" in ss:
        return
    params = st.query_params.to_dict()
    settings = from_query(params)
    for key in KEYS:
        ss[key] = settings[key]
    opened = Visitor()
    said = workspace(opened).open(params.get("ws"), params.get("run"))
    ss.canvas_key = 0
    ss.notices = [(n.level, n.message) for n in said if not n.lasting]
    ss.lasting = [(n.level, n.message) for n in said if n.lasting]  # kept on show until the next training
    ss.visitor = opened


def notify(notices: list[Notice]) -> None:
    """Messages at the top of the training section: each shown once, or (``lasting``) until the next training
    is submitted."""
    for notice in notices:
        (st.session_state.lasting if notice.lasting else st.session_state.notices).append(
            (notice.level, notice.message))


def show_notices() -> None:
    for level, message in st.session_state.notices + st.session_state.lasting:
        getattr(st, level)(message)
    st.session_state.notices = []


def runs() -> list[Run]:
    """This visitor's runs as last read (see :func:`load_runs`)."""
    return visitor().run_list


def load_runs() -> list[Run]:
    """This workspace's runs, read from the store (once per script run: :func:`runs` returns them)."""
    notify(workspace().load_runs())
    return runs()


def settle_runs() -> bool:
    """At the start of a full script run (playground.workspace.Workspace.settle_runs). True while any trains."""
    training, notices = workspace().settle_runs()
    notify(notices)
    return training


def latest_finished() -> Run | None:
    return workspace().latest_finished()


def train(submit: Callable[[TrainConfig], Job], configs: list[TrainConfig],
          tuned_from: int | None = None) -> tuple[list[Run], list[Notice]]:
    """Submit the trainings and keep their runs, as one action (playground.workspace.Workspace.train): the runs,
    and what to tell the visitor."""
    return workspace().train(submit, configs, tuned_from)


def remove_run(number: int) -> None:
    notify(workspace().remove_run(number))


def app_url() -> str:
    """The app's own address, its first page's, from whichever page asks (st.context.url ends with the page's
    path): a share link opens the shared run there."""
    url = (st.context.url or "").rstrip("/")
    path = st.session_state.get("page_path")
    return url.removesuffix(f"/{path}") if path else url


def share_run(number: int) -> None:
    notify(workspace().share_run(number, base_url=app_url()))


def unshare_run(number: int) -> None:
    notify(workspace().unshare_run(number))


def copy_shared() -> None:
    notify(workspace().copy_shared())


def add_examples(images, labels) -> list[Notice]:
    """Keep drawn examples with the workspace; what to tell the visitor (the handwriting section shows it)."""
    return workspace().add_examples(images, labels)


def undo_example() -> list[Notice]:
    return workspace().undo_example()


def load_examples_file(file, name: str) -> list[Notice]:
    return workspace().load_examples_file(file, name)
