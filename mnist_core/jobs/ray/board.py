"""The job board: one small named actor per cluster, shared by every server that submits to it, that
carries Stop to a training's worker and knows the queue's order across servers."""

from __future__ import annotations

import asyncio

import ray

NAMESPACE = "mnist_playground"
BOARD_NAME = "mnist-job-board"


@ray.remote(num_cpus=0)
class JobBoard:
    """Stop requests and queue order, shared by every server that submits to the cluster."""

    def __init__(self):
        self._count = 0
        self._queued: dict[str, int] = {}      # job id -> submission order, until it starts
        self._stops: dict[str, asyncio.Event] = {}
        self._ended: dict[str, asyncio.Event] = {}

    def _events(self, job_id):
        return (self._stops.setdefault(job_id, asyncio.Event()), self._ended.setdefault(job_id, asyncio.Event()))

    async def submitted(self, job_id: str) -> None:
        self._count += 1
        self._queued[job_id] = self._count
        self._events(job_id)

    async def started(self, job_id: str) -> None:
        self._queued.pop(job_id, None)

    async def ahead(self, job_ids: list[str]) -> dict[str, int]:
        """For each queued job: trainings submitted before it that have not started."""
        order = sorted(self._queued.values())
        return {j: sum(1 for o in order if o < self._queued[j]) for j in job_ids if j in self._queued}

    async def stop(self, job_id: str) -> None:
        self._events(job_id)[0].set()
        self._queued.pop(job_id, None)

    async def stop_requested(self, job_id: str) -> bool:
        return self._events(job_id)[0].is_set()

    async def wait_stop(self, job_id: str) -> bool:
        """Returns True when the job is asked to stop, False when it ends first."""
        stop, ended = self._events(job_id)
        waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(ended.wait())]
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for w in waits:
            w.cancel()
        return stop.is_set()

    async def ended(self, job_id: str) -> None:
        self._queued.pop(job_id, None)
        self._events(job_id)[1].set()
        self._stops.pop(job_id, None)
        self._ended.pop(job_id, None)
