"""``--before REV``: an earlier revision of the project checked out beside it, so one benchmark run measures
both (a temporary git worktree, removed afterwards)."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def add_worktree(rev: str, path: Path | None = None) -> Path:
    """``rev`` checked out at ``path`` (default: a new temporary folder)."""
    path = path or Path(tempfile.mkdtemp()) / "before"
    subprocess.run(["git", "worktree", "add", "--detach", "-q", str(path), rev], cwd=ROOT, check=True)
    return path


def remove_worktree(path: Path) -> None:
    subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT)
