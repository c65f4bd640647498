"""Text from visitors (file names, messages quoting them) shown as text, never as Markdown."""

import re

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def plain(text: str) -> str:
    """``text`` escaped so that Streamlit's Markdown shows it letter for letter."""
    return _MARKDOWN.sub(r"\\\1", str(text))
