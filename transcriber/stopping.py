"""The stop budget: from SIGTERM to exit within [server] shutdown_timeout, split into phases.

The phases overlap where they can: in-flight HTTP requests drain while running jobs finish, so
the total is the budget, not a sum of waits. A job still running when its window ends is
interrupted at its next segment; one that does not answer is put back in the queue directly
(without counting an attempt: a requested stop is not a crash), and the process exits without
waiting for its thread.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

INTERRUPT_WINDOW = 10.0  # at most this long for an interrupted job to reach its next segment
CLOSE_RESERVE = 1.0  # at most this long to close the database and the Redis pool at the end


@dataclass(frozen=True)
class StopBudget:
    """Deadlines (time.monotonic()) of each phase of one stop, all within `total` seconds."""

    total: float
    started: float = field(default_factory=time.monotonic)

    @property
    def reserve(self) -> float:
        return min(CLOSE_RESERVE, self.total / 10)

    @property
    def work_deadline(self) -> float:
        """Everything but the final closing is done by then: requests, jobs, background writes."""
        return self.started + self.total - self.reserve

    @property
    def finish_deadline(self) -> float:
        """Running jobs may finish on their own until then; then they are interrupted."""
        return self.work_deadline - min(INTERRUPT_WINDOW, (self.total - self.reserve) / 3)

    @staticmethod
    def left(deadline: float) -> float:
        return max(0.0, deadline - time.monotonic())

    def http_drain(self) -> float:
        """What aiohttp may wait for in-flight requests (it starts right after the stop)."""
        return self.total - self.reserve
