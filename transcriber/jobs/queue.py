"""The in-memory queue of job ids, ordered so short jobs never starve behind long ones.

Policy: each job gets a virtual deadline = arrival time + its audio duration (in seconds), and
the job with the earliest deadline runs next. A 10 s clip that arrives behind a 5-minute file
overtakes it (deadline +10 s against +300 s), but a long job is never starved: anything that
arrives more than its duration after it sorts behind it. Keys are fixed at arrival, so a heap
works, and recovery after a restart rebuilds the same order from created_at and duration.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from dataclasses import dataclass

from transcriber.jobs.queue_order import QueueOrder

SENTINEL_KEY = -math.inf


@dataclass(frozen=True, order=True)
class Entry:
    key: float
    seq: int
    job_id: str | None  # None asks a worker to stop


class JobQueue:
    """Pending job ids with their durations; capacity is enforced at admission, not here."""

    def __init__(self, duration_weight: float = 1.0):
        self._heap: asyncio.PriorityQueue[Entry] = asyncio.PriorityQueue()
        self._pending: dict[str, tuple[tuple[float, int], float]] = {}  # job_id -> ((key, seq), duration)
        self._order = QueueOrder()  # the same entries in run order, for positions in O(log n)
        self._seq = itertools.count()
        self._weight = duration_weight

    def __len__(self) -> int:
        return len(self._pending)

    def __contains__(self, job_id: str) -> bool:
        return job_id in self._pending

    def put(self, job_id: str, duration: float, arrival: float) -> None:
        if job_id in self._pending:
            return
        key, seq = arrival + duration * self._weight, next(self._seq)
        self._pending[job_id] = ((key, seq), duration)
        self._order.add((key, seq), duration)
        self._heap.put_nowait(Entry(key, seq, job_id))

    def stop_workers(self, count: int) -> None:
        for _ in range(count):
            self._heap.put_nowait(Entry(SENTINEL_KEY, next(self._seq), None))

    async def get(self) -> str | None:
        """Next job id to run, or None when the worker should stop; skips removed ids."""
        while True:
            entry = await self._heap.get()
            if entry.job_id is None:
                return None
            if self._forget(entry.job_id):
                return entry.job_id

    def remove(self, job_id: str) -> bool:
        """Forget a queued id (cancelled); its heap entry is skipped when it surfaces."""
        return self._forget(job_id)

    def _forget(self, job_id: str) -> bool:
        mine = self._pending.pop(job_id, None)
        if mine is None:
            return False
        self._order.discard(*mine)
        return True

    def position(self, job_id: str) -> int | None:
        """1-based place in line, or None if not queued."""
        mine = self._pending.get(job_id)
        if mine is None:
            return None
        return 1 + self._order.ahead(mine[0])[0]

    def seconds_ahead(self, job_id: str) -> float:
        """Audio seconds queued ahead of this job."""
        mine = self._pending.get(job_id)
        if mine is None:
            return 0.0
        return self._order.ahead(mine[0])[1]

    def total_seconds(self) -> float:
        return self._order.total_seconds()
