"""The server process that records a run, and whether it is gone: a run recorded by a dead process on this host
was interrupted, at once, without waiting for its silence to grow stale (playground.runs.STALE_SECONDS)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    started: float | None  # seconds after the host's boot: a pid given to a new process (a restarted server
                           # in a container often gets its old pid) is told from the old one by it


def _stat(pid: int) -> tuple[bytes, float] | None:
    """Process ``pid``'s state letter and when it started, in seconds after boot (None where /proc cannot tell)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()  # after the command, which may hold anything
        return fields[0], int(fields[19]) / _CLOCK_TICKS  # fields 3 and 22 of proc(5)
    except (OSError, IndexError, ValueError):
        return None


def this_process() -> Owner:
    pid = os.getpid()
    if pid not in _ME:  # by pid: a forked child is another process
        stat = _stat(pid)
        _ME[pid] = Owner(socket.gethostname(), pid, stat[1] if stat else None)
    return _ME[pid]


_ME: dict[int, Owner] = {}


def is_gone(owner: Owner) -> bool:
    """Whether ``owner`` is a process of this host that has ended (False when it lives, or lives elsewhere)."""
    if owner.host != socket.gethostname() or not owner.pid:
        return False
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, another user's
    stat = _stat(owner.pid)
    if stat is None:
        return False
    state, started = stat
    return state == b"Z" or (owner.started is not None and abs(started - owner.started) > 0.5)  # killed, unreaped
