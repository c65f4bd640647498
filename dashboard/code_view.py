"""The code behind this run: the sidebar's settings as a plain PyTorch script and notebook (mnist_core.script)."""

from __future__ import annotations

import streamlit as st

from dashboard import i18n
from dashboard.i18n import _

from mnist_core import TrainConfig
from mnist_core.script import notebook_for, script_for


@st.cache_data(show_spinner=False, max_entries=64)
def code_files(settings: dict) -> tuple[str, bytes]:
    """The script and the notebook for ``settings`` (a TrainConfig's dict): made once per settings."""
    config = TrainConfig.from_dict(settings)
    return script_for(config), notebook_for(config)


def code_section(config: TrainConfig) -> None:
    # on_change="rerun": the expander reports whether it is open, so a closed one costs nothing
    expander = st.expander(_("The code behind this run"), key="code_view", on_change="rerun")
    if not expander.open:
        return
    with expander:
        try:
            script, notebook = code_files(config.to_dict())
        except ValueError as exc:  # a model whose layers cannot be written as plain torch.nn
            st.info(_("These settings cannot be written as a plain PyTorch script: {reason}").format(
                reason=i18n.message(exc)))
            return
        st.caption(_("The sidebar's settings as the tutorial's kind of program: plain PyTorch and torchvision "
                     "(a DataLoader, the tutorial's `Epoch: 001 cost = ...` lines). It trains the same model "
                     "the usual, slower way; shuffling differs, so its numbers come close to the page's, not "
                     "equal."))
        name = f"mnist_{config.model}"
        left, right = st.columns(2)
        left.download_button(_("Download the script (.py)"), script, file_name=f"{name}.py", mime="text/x-python",
                             key="code_py", on_click="ignore", width="stretch")
        right.download_button(_("Download the notebook (.ipynb)"), notebook, file_name=f"{name}.ipynb",
                              mime="application/x-ipynb+json", key="code_ipynb", on_click="ignore", width="stretch")
        st.code(script, language="python", wrap_lines=True)
