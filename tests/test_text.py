"""Visitors' text shown letter for letter: playground.text.plain."""

import re
import string

import pytest

from playground.text import WORD_JOINER, plain

HOSTILE = ["**bold**", "[link](http://127.0.0.1:9/)", "# heading", "1. list", "- item", "`code`", "$x^2$",
           "<b>html</b>", "a_b_c", "~~strike~~", "table | cell", ":smile:", "back\\slash", "x = y", "a & b",
           "&lt;b&gt;", "https://evil.example/login", "www.evil.example", "me@evil.example", ":red[x]",
           "<https://evil.example>", "[x]: https://evil.example", "x ===", "x ---", "x^2 \"quoted\" 'q' %;?,@"]


@pytest.mark.parametrize("text", HOSTILE)
def test_every_markdown_character_is_escaped(text):
    out = plain(text)
    assert re.sub(r"\\(.)", r"\1", out).replace(WORD_JOINER, "") == text   # nothing else lost or added
    unescaped = re.sub(r"\\.", "", out)                  # what is left once escaped pairs are taken out
    assert not set(unescaped) & set(string.punctuation)


@pytest.mark.parametrize("text", ["https://evil.example/login", "HTTP://evil.example", "www.evil.example",
                                  "WWW.evil.example", "me@evil.example", ":smile:"])
def test_literal_links_and_emoji_codes_are_broken_where_escapes_cannot_reach(text):
    shown = re.sub(r"\\(.)", r"\1", plain(text))       # the text Markdown hands to its autolinker
    assert not re.search(r"https?://|www\.|@[-\w]|:\w+:", shown, re.IGNORECASE)


def test_a_line_under_text_cannot_make_it_a_heading():
    assert "\n" not in plain("x\n===") and "\n" not in plain("a\r\n\n    code\u2028b")


def test_plain_text_is_left_alone():
    assert plain("my digits 2024") == "my digits 2024"


class _NoWorkspaces:
    def has_workspace(self, ws):
        return False


@pytest.mark.parametrize("ws", ["https://evil.example/login", "x\n===", "[click](https://evil.example)"])
def test_a_share_links_unknown_workspace_id_is_never_echoed(ws):
    from playground.workspace import Visitor, Workspace
    notices = Workspace(Visitor(), _NoWorkspaces, {}, lambda run_id: None).open_viewers_workspace(ws)
    assert [n.message for n in notices] == ["The address's workspace id names no workspace here; Copy to my "
                                            "workspace will make you a new one."]
