"""Deferred work: the processors' asynchronous jobs, completed once their time has come.

Erasure requests, deletion jobs and suppression jobs answer at once and act later. The
emulators run them lazily: every request, and every inspection of a state, first runs the jobs
that are due, so after the delay the person is really gone from the data, without a timer
thread. Callers hold their state's lock around every call here.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(order=True)
class Job:
    """One scheduled action; ``due`` is in nominal seconds."""

    due: float
    seq: int
    action: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)
    done: bool = field(default=False, compare=False)


class DeferredJobs:
    """A queue of actions ordered by due time."""

    def __init__(self) -> None:
        self._heap: list[Job] = []
        self._seq = itertools.count()
        self._running = False

    def schedule(self, due: float, action: Callable[[], None]) -> Job:
        """Run ``action`` on the first :meth:`run_due` at or after ``due``."""
        job = Job(due=due, seq=next(self._seq), action=action)
        heapq.heappush(self._heap, job)
        return job

    @staticmethod
    def cancel(job: Job) -> bool:
        """Cancel a job that has not run yet; ``False`` if it already ran or was cancelled."""
        if job.done or job.cancelled:
            return False
        job.cancelled = True
        return True

    def run_due(self, now: float) -> int:
        """Run every job due at ``now``, oldest first; returns how many ran.

        A job's action may read the state, which runs due jobs first: that nested call
        returns at once, and the outer loop goes on with the queue.
        """
        if self._running:
            return 0
        self._running = True
        ran = 0
        try:
            while self._heap and self._heap[0].due <= now:
                job = heapq.heappop(self._heap)
                if job.cancelled:
                    continue
                job.done = True
                job.action()
                ran += 1
        finally:
            self._running = False
        return ran

    @property
    def pending(self) -> int:
        """Jobs scheduled and neither run nor cancelled."""
        return sum(1 for job in self._heap if not job.cancelled)
