"""The recorder: a thread per training that copies its job into the run store as it trains.

It belongs to the server process, not to a visitor's session: closing the tab
loses nothing, and a server that stops loses at most the epoch in flight. A
run removed from the store (by a visitor on any server) stops its training
here at the next epoch or heartbeat, freeing its slot.
"""

from __future__ import annotations

import logging
import time

from mnist_core.jobs import Job
from playground.store import RunStore, StoreUnavailable

HEARTBEAT_SECONDS = 5.0   # how often a training's recorder tells the store it is alive (see runs.STALE_SECONDS)
RECORD_POLL_SECONDS = 0.25
OUTAGE_SECONDS = 3600     # how long one store outage is waited out before the run lives on in its job only
log = logging.getLogger(__name__)


def record(store: RunStore, run_id: int, job: Job, live: dict[int, Job], unsaved: set[int] | None = None) -> None:
    """Write a training's epochs and its result to the store as it trains, then drop it from ``live`` (the
    trainings this server process runs). While the store is unreachable it keeps trying, up to OUTAGE_SECONDS
    for each outage; the page meanwhile shows the run from its job, and an ended run the store has not taken is
    in ``unsaved`` (the page asks its visitor to download it) until it has."""
    unsaved = set() if unsaved is None else unsaved
    written, beat, status = 0, 0.0, None
    deadline = None  # of the outage under way
    while True:
        ended = job.done
        if not ended:  # polled: a wait on the job would wake at every batch and take the GIL from the training
            time.sleep(RECORD_POLL_SECONDS)
            ended = job.done
        snap = job.snapshot()
        try:
            for report in snap.epochs[written:]:
                if not store.add_epoch(run_id, report):
                    return _removed(run_id, job, live, unsaved)
                written += 1
            if ended:
                store.finish_run(run_id, job.result)
                unsaved.discard(run_id)
                live.pop(run_id, None)
                return
            if snap.status != status or time.monotonic() - beat > HEARTBEAT_SECONDS:
                if not store.heartbeat(run_id, status=snap.status, device=snap.device or None,
                                       worker=snap.worker or None):
                    return _removed(run_id, job, live, unsaved)
                status, beat = snap.status, time.monotonic()
            deadline = None  # the store took every write: a later outage gets its own hour
        except StoreUnavailable as exc:
            if ended:
                unsaved.add(run_id)
            if deadline is None:
                log.warning("run %s: the run store cannot take its writes (%s); trying again", run_id, exc)
            deadline = deadline or time.monotonic() + OUTAGE_SECONDS
            if time.monotonic() > deadline:
                log.error("run %s: the run store was unavailable for %s s; its run lives on in this process only",
                          run_id, OUTAGE_SECONDS)
                return
            time.sleep(HEARTBEAT_SECONDS)


def _removed(run_id: int, job: Job, live: dict[int, Job], unsaved: set[int]) -> None:
    """The run was removed from the store, perhaps through another server: nobody can see it any more, so its
    training stops and gives its slot back."""
    log.info("run %s was removed; stopping its training", run_id)
    job.stop()
    unsaved.discard(run_id)
    live.pop(run_id, None)
