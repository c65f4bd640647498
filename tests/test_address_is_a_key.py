"""The workspace's address is a key to it: the page says so, and Remove asks before it removes for good.

A fake worker body ends each training at once, so the page has a finished run without training one.
"""

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard.navigation import RUNS
from helpers import ROOT
from mnist_core.jobs import JobResult
from mnist_core.jobs import thread as thread_backend


def finished_at_once(config, spec, report, *, worker, loading_note, should_stop, start=None):
    report.mark_running("cpu", worker, loading_note)
    return JobResult("completed", [1.0], [None], 0.1, "cpu", worker)


@pytest.fixture
def page(mnist_root, monkeypatch):
    monkeypatch.setenv("MNIST_DATA_DIR", str(mnist_root))
    monkeypatch.setattr(thread_backend, "run_job", finished_at_once)
    st.cache_resource.clear()  # a backend of its own, whose trainings end at once
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60)
    at.run()
    yield at
    st.cache_resource.clear()


def blocks_above(at, key):
    """The types of the blocks around the element keyed ``key``, outermost first."""
    def walk(node, path):
        for child in getattr(node, "children", {}).values():
            if getattr(child, "key", None) == key:
                return path, child
            found = walk(child, [*path, getattr(child, "type", None)])
            if found:
                return found
        return None
    return walk(at._tree, [])


def test_the_sidebar_says_the_address_is_a_key_and_remove_asks_first(page):
    page.button(key="train").click().run()   # the first training makes the workspace the address then holds
    for run in page.session_state.visitor.run_list:
        assert run.job is None or run.job.wait(10)
    page.run()
    assert any("Anyone with this address can change your runs: share runs with their Share link" in c.value
               for c in page.sidebar.caption)
    path, button = blocks_above(page.switch_page(RUNS).run(), "remove-1")
    assert "popover" in path and button.label == "Remove run #1 for good"   # a second, explicit click
    button.click().run()
    assert not page.exception and page.session_state.visitor.run_list == []
