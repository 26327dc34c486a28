"""Where the scheduler's workers get their next job: the local queue (SQLite, one server), or
claims with leases on the shared store (PostgreSQL, many servers: shared_source.py).

Either way a worker asks for a job only when it is free, so the worker pool bounds what one
server runs at once.
"""

from __future__ import annotations

import logging

from transcriber.clock import epoch
from transcriber.domain.job import Job, JobStatus
from transcriber.jobs.backlog import Backlog
from transcriber.jobs.job_source import SourceEvents
from transcriber.jobs.queue import JobQueue
from transcriber.jobs.shared_line import Place
from transcriber.jobs.shared_source import SharedSource
from transcriber.setting_sections import DatabaseSettings
from transcriber.store.postgres import PgStore
from transcriber.store.sqlite import Store

log = logging.getLogger(__name__)


class LocalSource:
    """One server: job ids wait in the in-process queue; the store is claimed by id."""

    owner = None

    def __init__(self, queue: JobQueue, store: Store, max_attempts: int, events: SourceEvents, capacity: int):
        self._queue = queue
        self._store = store
        self._max_attempts = max_attempts
        self._events = events
        self._backlog = Backlog(store, queue, capacity)

    def queued(self) -> int:
        return len(self._queue) + self._backlog.count

    def queued_seconds(self) -> float:
        return self._queue.total_seconds() + self._backlog.seconds

    def added(self, job_id: str, duration: float, arrival: float) -> None:
        self._queue.put(job_id, duration, arrival)

    def removed(self, job_id: str) -> None:
        if not self._queue.remove(job_id):
            self._backlog.forget_one()

    def place(self, job: Job) -> Place | None:
        """Its place in the in-process queue (None while it waits in the database: backlog.py)."""
        position = self._queue.position(job.job_id)
        if position is None:
            return None
        return Place(position, self._queue.seconds_ahead(job.job_id))

    async def recover(self) -> None:
        """Re-queue what a previous process accepted but did not finish, up to the queue's capacity
        (the rest waits in the database: backlog.py)."""
        recovered = await self._store.recover(self._max_attempts)
        self._events.gave_up(recovered.failed)
        self._events.cancelled_before(recovered.cancelled)
        await self._backlog.load()
        if recovered.requeued or len(self._queue):
            in_line, waiting = len(self._queue), self._backlog.count
            log.info(
                "recovered %d queued jobs (%d were running), %d wait in the database for room",
                in_line + waiting,
                len(recovered.requeued),
                waiting,
            )

    async def next(self) -> Job | None:
        while (job_id := await self._queue.get()) is not None:
            await self._backlog.refill()  # its slot is free: the oldest job waiting in the database takes it
            try:
                job = await self._store.claim_job(job_id)
            except Exception:
                await self._put_back(job_id)
                raise
            if job is not None:
                return job
        return None

    async def _put_back(self, job_id: str) -> None:
        """A claim the store refused (a full disk) leaves the job queued: its id goes back too."""
        job = await self._store.get_job(job_id)
        if job is not None and job.status == JobStatus.QUEUED:
            self._queue.put(job_id, job.duration, epoch(job.created_at))

    def start(self) -> None:
        pass

    def stop(self, workers: int) -> None:
        self._queue.stop_workers(workers)

    async def close(self) -> None:
        pass


def make_source(
    store: Store,
    database: DatabaseSettings,
    queue: JobQueue,
    max_attempts: int,
    events: SourceEvents,
    capacity: int = 1000,
) -> LocalSource | SharedSource:
    """The shared source when the store is shared by several servers, else the local one."""
    if isinstance(store, PgStore):
        return SharedSource(store, database, max_attempts, events, capacity)
    return LocalSource(queue, store, max_attempts, events, capacity)
