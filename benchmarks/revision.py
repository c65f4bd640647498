"""``--before REV``: an earlier revision of the project checked out beside it, so one benchmark run measures
both (a temporary git worktree, removed afterwards)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDER_SETTINGS = ("MNIST_DATA_DIR", "MNIST_CACHE_DIR", "MNIST_STATE_DIR")


def add_worktree(rev: str, path: Path | None = None) -> Path:
    """``rev`` checked out at ``path`` (default: a new temporary folder). The folders the settings name relative
    to the current folder are made absolute first: the earlier revision runs in its checkout, where they would
    name nothing (its Train never finished its page)."""
    for name in FOLDER_SETTINGS:
        if os.environ.get(name):
            os.environ[name] = str(Path(os.environ[name]).resolve())
    path = path or Path(tempfile.mkdtemp()) / "before"
    subprocess.run(["git", "worktree", "add", "--detach", "-q", str(path), rev], cwd=ROOT, check=True)
    return path


def remove_worktree(path: Path) -> None:
    subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT)
