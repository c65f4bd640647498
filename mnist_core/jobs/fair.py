"""The fair share of a backend's slots, the same rule for every backend: each owner (a visitor, by an opaque
key the page gives) has at most a few submissions queued or running, and the next training to start is taken
round-robin across owners (the owner whose last training started longest ago, or never), so one visitor's many
trainings never stand before another's one.

:class:`FairQueue` holds the rule and nothing else: no lock and no thread. A backend calls it holding its own
lock, and starts what :meth:`FairQueue.take` gives it wherever its trainings run.
"""

from __future__ import annotations

import collections
import os

from ..i18n import Message, Translatable
from .job import Job

PER_OWNER_ENV = "MNIST_MAX_TRAININGS_PER_VISITOR"
# Three submissions at once per visitor: a run to watch, one to compare and one more; a sweep's four trainings
# are one submission (one press of its button), so a visitor with nothing else running can always sweep.
DEFAULT_PER_OWNER = 3


class TooManyTrainings(Translatable, ValueError):
    """An owner already has as many trainings queued or running as the backend allows; the message says what
    to do."""


def default_per_owner() -> int:
    """``MNIST_MAX_TRAININGS_PER_VISITOR``, else :data:`DEFAULT_PER_OWNER`."""
    try:
        limit = int(os.environ.get(PER_OWNER_ENV, "0"))
    except ValueError:
        limit = 0
    return limit if limit > 0 else DEFAULT_PER_OWNER


class FairQueue:
    """Queued jobs by owner, the limit per owner, and whose turn it is.

    ``per_owner``: the most submissions one owner may have queued or running (default:
    ``MNIST_MAX_TRAININGS_PER_VISITOR``, read at each :meth:`put`). The owner None (the backend's own caller:
    Python, a benchmark) is not limited and takes its turn as one owner.
    """

    def __init__(self, per_owner: int | None = None):
        self.per_owner = per_owner
        self._queues: dict[str | None, collections.deque[Job]] = {}  # each owner's queued jobs, first come first
        self._served: dict[str | None, int] = {}  # when each owner with jobs not ended last had one started
        self._running: collections.Counter[str | None] = collections.Counter()  # to know when to forget that
        self._starts = 0
        self._owned: dict[str, list[tuple[Job, str]]] = {}  # each owner's jobs not ended, with their group

    def put(self, job: Job, owner: str | None, group: str | None = None) -> None:
        """Queue ``job``, or refuse it with :class:`TooManyTrainings` when ``owner`` has as many submissions
        queued or running as allowed; the jobs of one ``group`` (a sweep) count as one submission."""
        if owner is not None:
            self._admit(job, owner, group or job.id)
        self._queues.setdefault(owner, collections.deque()).append(job)
        self._renumber()

    def _admit(self, job: Job, owner: str, group: str) -> None:
        limit = self.per_owner or default_per_owner()
        self._forget_ended()
        submissions = {g for _, g in self._owned.get(owner, [])}
        if group not in submissions and len(submissions) >= limit:
            raise TooManyTrainings(Message.ngettext(
                "You have {count} training queued or running; wait for one to end or stop one.",
                "You have {count} trainings queued or running; wait for one to end or stop one.", limit, count=limit))
        self._owned.setdefault(owner, []).append((job, group))

    def _forget_ended(self) -> None:
        """Drop ended jobs from the owners' counts (and their results from memory)."""
        self._owned = {owner: live for owner, jobs in self._owned.items()
                       if (live := [(j, g) for j, g in jobs if not j.done])}

    def __len__(self) -> int:
        """The jobs queued."""
        return sum(len(q) for q in self._queues.values())

    def waiting(self) -> list[Job]:
        return [job for q in self._queues.values() for job in q]

    def _turns(self):
        """The owners whose queued jobs start next, in turn, if nothing ends meanwhile (a generator)."""
        waiting = {owner: len(queue) for owner, queue in self._queues.items()}  # first come, first in a tie
        served, starts = dict(self._served), self._starts
        while waiting:
            owner = min(waiting, key=lambda o: served.get(o, -1))  # never served: first of all
            yield owner
            served[owner], starts = starts, starts + 1
            waiting[owner] -= 1
            if not waiting[owner]:
                del waiting[owner]

    def order(self) -> list[Job]:
        """The queued jobs in the order they will start if nothing ends meanwhile."""
        taken = collections.Counter()
        order = []
        for owner in self._turns():
            order.append(self._queues[owner][taken[owner]])
            taken[owner] += 1
        return order

    def _renumber(self) -> None:
        for i, job in enumerate(self.order()):
            job.set_queue_position(i)  # trainings queued ahead of it

    def remove(self, job: Job) -> bool:
        """Take ``job`` out of the queue (stopped before it started); False when it was not queued."""
        for owner, queue in self._queues.items():
            if job in queue:
                queue.remove(job)
                if not queue:
                    del self._queues[owner]
                    if not self._running[owner]:
                        self._served.pop(owner, None)
                self._renumber()
                return True
        return False

    def take(self) -> tuple[Job, str | None]:
        """The job whose turn it is (IndexError when none is queued), counted as running until :meth:`ended`."""
        if not self._queues:
            raise IndexError("no training is queued")
        owner = next(self._turns())
        queue = self._queues[owner]
        job = queue.popleft()
        if not queue:
            del self._queues[owner]
        self._running[owner] += 1
        self._served[owner], self._starts = self._starts, self._starts + 1
        self._renumber()
        return job, owner

    def ended(self, owner: str | None) -> None:
        """A job of ``owner`` taken with :meth:`take` has ended: its turn is forgotten once it has nothing queued
        or running."""
        self._running[owner] -= 1
        if not self._running[owner]:
            del self._running[owner]
            if owner not in self._queues:
                self._served.pop(owner, None)
        self._forget_ended()
