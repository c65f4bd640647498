"""The run store: every visitor's runs, durable and linkable (SQLAlchemy; SQLite by default, PostgreSQL by URL).

INTERFACE ONLY: the implementation is being written; the page is wired against these signatures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from mnist_core import EvalResult

MAX_RUNS = 20      # runs kept per workspace (the oldest unshared finished ones go first)
KEEP_DAYS = 30     # default of MNIST_KEEP_DAYS


class StoreUnavailable(RuntimeError):
    """The database cannot be reached or written (unreachable, full, read-only); the message is for the page."""


class UnknownWorkspace(ValueError):
    """A malformed or unknown workspace id or share token; the message is for the page."""


@dataclass
class StoredRun:
    id: int                      # database id (unique across workspaces)
    workspace: str
    number: int                  # 1, 2, ... within its workspace; never reused there
    config: dict                 # dataclasses.asdict(TrainConfig)
    status: str                  # queued | running | completed | stopped | diverged | failed
    epochs: list[dict] = field(default_factory=list)  # {"epoch", "cost", "test_accuracy", "val_accuracy", "seconds"}
    train_seconds: float = 0.0
    device: str = ""
    worker: str = ""
    message: str | None = None
    evaluation: EvalResult | None = None
    has_checkpoint: bool = False
    share_token: str | None = None
    created: datetime | None = None
    updated: datetime | None = None  # last write (epochs, heartbeat, finish): tells a live run from an orphan


class RunStore:
    def __init__(self, url: str | None = None): ...
    def new_workspace(self) -> str: ...
    @staticmethod
    def valid_id(ws: str) -> bool: ...
    def has_workspace(self, ws: str) -> bool: ...
    def touch(self, ws: str) -> None: ...
    def add_run(self, ws: str, config: dict) -> tuple[StoredRun, list[int]]: ...  # new run, numbers let go
    def heartbeat(self, run_id: int, status: str | None = None, device: str | None = None,
                  worker: str | None = None) -> None: ...
    def add_epoch(self, run_id: int, report) -> None: ...  # idempotent per (run, epoch)
    def finish_run(self, run_id: int, result) -> None: ...  # a mnist_core.jobs.JobResult
    def runs(self, ws: str) -> list[StoredRun]: ...
    def get_run(self, ws: str, number: int) -> StoredRun | None: ...
    def checkpoint(self, run_id: int) -> bytes | None: ...
    def remove_run(self, ws: str, number: int) -> None: ...
    def share(self, ws: str, number: int) -> str: ...
    def shared_run(self, token: str) -> StoredRun | None: ...
    def copy_to_workspace(self, token: str, ws: str) -> StoredRun: ...
    def prune(self, keep_days: int | None = None) -> int: ...
