"""Visitors' text shown letter for letter: playground.text.plain."""

import re

import pytest

from playground.text import plain

HOSTILE = ["**bold**", "[link](http://127.0.0.1:9/)", "# heading", "1. list", "- item", "`code`", "$x^2$",
           "<b>html</b>", "a_b_c", "~~strike~~", "table | cell", ":smile:", "back\\slash"]


@pytest.mark.parametrize("text", HOSTILE)
def test_every_markdown_character_is_escaped(text):
    out = plain(text)
    assert re.sub(r"\\(.)", r"\1", out) == text          # nothing lost or added but the escapes
    unescaped = re.sub(r"\\.", "", out)                  # what is left once escaped pairs are taken out
    assert not set(unescaped) & set("\\`*_{}[]()#+-.!|<>~$:")


def test_plain_text_is_left_alone():
    assert plain("my digits 2024") == "my digits 2024"
