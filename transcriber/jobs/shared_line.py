"""The shared queue as this server last read it (PostgreSQL, many servers): each queued job's place
in the claim order and the audio seconds ahead of it, so /status needs no query of its own.

The lease tick reads the queued jobs along the claim-order index, and the running ones (claims.py).
A lookup is then a dict hit, or a bisect for a job accepted since (O(log n)); a place may lag by the
claims other servers made since the last tick, which the next one corrects.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate

from transcriber.clock import epoch
from transcriber.store.types import Row

Key = tuple[float, str, str]  # (virtual deadline, created_at, job_id): the order jobs are claimed in


@dataclass(frozen=True)
class Place:
    """A queued job's place in line, and the work ahead of it that the ETA counts."""

    position: int  # 1-based
    seconds_ahead: float  # audio seconds queued ahead of it
    elsewhere: tuple[tuple[float, float], ...] = ()  # (duration, progress) of jobs other servers run


class SharedLine:
    """One reading of the shared queue; `complete` when it holds every queued job (not cut at a limit)."""

    def __init__(self, queued: Sequence[Row] = (), running: Sequence[Row] = (), complete: bool = True):
        self._keys: list[Key] = [(float(r["deadline"]), r["created_at"], r["job_id"]) for r in queued]
        self._index = {key[2]: i for i, key in enumerate(self._keys)}
        self._ahead = [0.0, *accumulate(float(r["duration"]) for r in queued)]  # seconds before entry i
        self._running = [(r["job_id"], float(r["duration"]), float(r["progress"] or 0.0)) for r in running]
        self.complete = complete

    def depth(self) -> tuple[int, float]:
        return len(self._keys), self._ahead[-1]

    def place(self, job_id: str, created_at: str, duration: float, mine: Sequence[str]) -> Place | None:
        """The job's place (None past the end of a cut reading); `mine` are the jobs this server runs."""
        at = self._index.get(job_id)
        if at is None:  # accepted since the reading: where the claim order puts it
            at = bisect_left(self._keys, (epoch(created_at) + duration, created_at, job_id))
            if at == len(self._keys) and not self.complete:
                return None
        elsewhere = tuple((d, p) for job, d, p in self._running if job not in mine)
        return Place(at + 1, self._ahead[at], elsewhere)
