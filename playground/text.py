"""Text from visitors (file names, messages quoting them) shown as text, never as Markdown."""

import re

# Every ASCII punctuation character: CommonMark lets each be escaped, and escaped it is only itself.
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
_LINE_BREAKS = re.compile(r"[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+")  # a line under text makes it a heading
# GitHub's literal autolinks (https://…, www.…, a@b.c) and Streamlit's :emoji: codes are found in the text
# after the escapes are taken out, so escaping cannot stop them: an invisible word joiner breaks them.
_LINKS_AND_CODES = re.compile(r"(?<=[:@])|(?<=www)(?=\.)", re.IGNORECASE)
WORD_JOINER = "\u2060"


def plain(text: str) -> str:
    """``text`` escaped so that Streamlit's Markdown shows it letter for letter, on one line, and links
    nothing."""
    text = _LINE_BREAKS.sub(" ", str(text))
    text = _LINKS_AND_CODES.sub(WORD_JOINER, text)
    return _PUNCTUATION.sub(r"\\\1", text)
