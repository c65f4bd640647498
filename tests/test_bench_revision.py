"""``--before REV``: the earlier revision, checked out elsewhere, reads the same folders as the current one."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from revision import add_worktree, remove_worktree  # noqa: E402


def test_a_relative_data_folder_names_the_same_folder_for_the_earlier_revision(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MNIST_DATA_DIR", "shared/datasets")
    before = add_worktree("HEAD", tmp_path / "before")
    try:
        assert (before / "streamlit_app.py").exists()
        assert os.environ["MNIST_DATA_DIR"] == str(tmp_path / "shared" / "datasets")
    finally:
        remove_worktree(before)
