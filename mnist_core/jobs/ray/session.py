"""A process session, ended whole: the Ray driver leads one, and a local Ray it starts lives in it (Ray gives
some of its processes, its agents and workers, process groups of their own, so a group's kill misses them)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def session_processes(session: int) -> list[int]:
    """The live processes of ``session`` (Ray puts some of its own in process groups of their own)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def end_session(session: int) -> None:
    """Kill every process of ``session`` (a local Ray's, its agents and workers too), until none is left."""
    deadline = time.monotonic() + 10
    while (pids := [p for p in session_processes(session) if p != os.getpid()]) and time.monotonic() < deadline:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.05)
