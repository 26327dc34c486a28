"""The backlog: queued jobs the in-process queue has no room for after a restart.

Rule: recovery puts at most `capacity` queued jobs in the queue, oldest first; the rest stay
queued in the database and enter the queue, oldest first, each time a slot frees, ahead of any
new upload (admission counts them, so uploads get 503 queue_full until the backlog is in line).
Only the counts and a cursor are held in memory, never the rows.
"""

from __future__ import annotations

import asyncio

from transcriber.clock import epoch
from transcriber.jobs.queue import JobQueue
from transcriber.store.sqlite import Store

PAGE = 500


class Backlog:
    """Feeds the queue from the database up to capacity; counts what is still waiting there."""

    def __init__(self, store: Store, queue: JobQueue, capacity: int):
        self._store = store
        self._queue = queue
        self._capacity = max(1, capacity)
        self._cursor: tuple[str, str] | None = None  # (created_at, job_id) of the last job let in
        self._lock = asyncio.Lock()
        self.count = 0
        self.seconds = 0.0

    async def load(self) -> None:
        """At start-up, after recovery: every queued job is in the backlog, then the queue fills."""
        self.count, self.seconds = await self._store.queue_depth()
        await self._fill(len(self._queue) + self.count)

    async def refill(self) -> None:
        """A slot freed: let the oldest waiting jobs in (nothing to do once the backlog is empty)."""
        if self.count:
            await self._fill(self.count)

    def forget_one(self) -> None:
        """A job in the backlog was cancelled."""
        if self.count:
            self.seconds -= self.seconds / self.count
            self.count -= 1

    async def _fill(self, waiting: int) -> None:
        async with self._lock:
            room = min(self._capacity - len(self._queue), waiting)
            while room > 0:  # a page at a time, so the loop serves requests between pages
                rows = await self._store.queued_page(self._cursor, min(room, PAGE))
                for row in rows:
                    self._queue.put(row["job_id"], row["duration"], epoch(row["created_at"]))
                    self.count, self.seconds = max(0, self.count - 1), max(0.0, self.seconds - row["duration"])
                if rows:
                    self._cursor = (rows[-1]["created_at"], rows[-1]["job_id"])
                if len(rows) < min(room, PAGE):
                    self.count, self.seconds = 0, 0.0
                    return
                room -= len(rows)
