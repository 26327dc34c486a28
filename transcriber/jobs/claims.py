"""Where the scheduler's workers get their next job: the local queue (SQLite, one server) or
claims with leases on the shared store (PostgreSQL, many servers).

Either way a worker asks for a job only when it is free, so the worker pool bounds what one
server runs at once. The shared source wakes idle workers through LISTEN/NOTIFY when a job is
accepted anywhere, polls slowly as a fallback, renews the leases of the jobs this server runs
(learning of cancels sent to other servers on the way), and takes back jobs whose server died.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Sequence
from typing import Protocol

from transcriber.clock import epoch
from transcriber.domain.job import Job, JobStatus
from transcriber.events.waiters import wake_or_timeout
from transcriber.jobs.backlog import Backlog
from transcriber.jobs.queue import JobQueue
from transcriber.jobs.shared_line import Place, SharedLine
from transcriber.setting_sections import DatabaseSettings
from transcriber.store.pg_listen import DATABASE_ERRORS, PgListener
from transcriber.store.postgres import CANCEL_CHANNEL, NEW_JOB_CHANNEL, PgStore
from transcriber.store.sqlite import Store

log = logging.getLogger(__name__)
TICK_SECONDS = 2.0  # lease renewal, cancel polling, shared queue depth (at most)
POLL_SECONDS = 5.0  # idle workers look for work this often even without a notification
RETRY_SECONDS = 1.0  # after a failed claim (database away)
# Queued jobs a tick reads for places in line, per job of queue capacity: admission keeps the shared
# queue near its capacity, so jobs past twice that (after the capacity was lowered) show no place.
LINE_PER_CAPACITY = 2


class SourceEvents(Protocol):
    """What a source tells the scheduler about jobs it is running."""

    def running_ids(self) -> list[str]: ...
    def cancel_requested(self, job_id: str) -> None: ...
    def lease_lost(self, job_id: str) -> None: ...
    def gave_up(self, jobs: Sequence[Job]) -> None: ...
    def cancelled_before(self, jobs: Sequence[Job]) -> None: ...


class JobSource(Protocol):
    owner: str | None  # lease holder name written with this server's claims; None when local

    def queued(self) -> int: ...
    def queued_seconds(self) -> float: ...
    def added(self, job_id: str, duration: float, arrival: float) -> None: ...
    def removed(self, job_id: str) -> None: ...
    def place(self, job: Job) -> Place | None: ...
    async def recover(self) -> None: ...
    async def next(self) -> Job | None: ...
    def start(self) -> None: ...
    def stop(self, workers: int) -> None: ...
    async def close(self) -> None: ...


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


class SharedSource:
    """Many servers on one PostgreSQL: claim the earliest deadline, hold it with a lease."""

    def __init__(
        self, store: PgStore, database: DatabaseSettings, max_attempts: int, events: SourceEvents, capacity: int
    ):
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._store = store
        self._lease = max(1.0, database.lease_seconds)
        self._tick_seconds = min(TICK_SECONDS, self._lease / 4)  # several renewals per lease
        self._max_attempts = max_attempts
        self._events = events
        self._wake = asyncio.Event()
        self._stopping = False
        self._depth = (0, 0.0)
        self._line = SharedLine()  # the shared queue as the last tick read it
        self._line_limit = LINE_PER_CAPACITY * max(1, capacity)
        self._listener = PgListener(database.url, {NEW_JOB_CHANNEL: self._notified, CANCEL_CHANNEL: self._notified})
        self._ticker: asyncio.Task[None] | None = None
        self._db_down_logged = False

    def queued(self) -> int:
        return self._depth[0]

    def queued_seconds(self) -> float:
        return self._depth[1]

    def added(self, job_id: str, duration: float, arrival: float) -> None:
        self._depth = (self._depth[0] + 1, self._depth[1] + duration)  # until the next tick counts
        self._wake.set()

    def removed(self, job_id: str) -> None:
        self._depth = (max(0, self._depth[0] - 1), self._depth[1])  # until the next tick counts

    def place(self, job: Job) -> Place | None:
        """Its place among every server's queued jobs, in claim order, as of the last tick."""
        return self._line.place(job.job_id, job.created_at, job.duration, self._events.running_ids())

    async def recover(self) -> None:
        """Nothing runs here yet: take back only jobs whose server's lease ran out."""
        await self._take_back()
        await self._count()

    async def next(self) -> Job | None:
        while not self._stopping:
            self._wake.clear()
            try:
                job = await self._store.claim_next(self.owner, self._lease)
            except DATABASE_ERRORS as exc:
                self._db_down(exc)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            if job is not None:
                self.removed(job.job_id)
                return job
            await wake_or_timeout(self._wake, POLL_SECONDS)
        return None

    def start(self) -> None:
        self._ticker = asyncio.create_task(self._tick_forever(), name="leases")

    def stop(self, workers: int) -> None:
        self._stopping = True
        self._wake.set()

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        await self._listener.close()

    async def _tick_forever(self) -> None:
        last_take_back = time.monotonic()
        while True:
            try:
                await self._tick()
                if time.monotonic() - last_take_back >= self._lease / 3:
                    last_take_back = time.monotonic()
                    await self._take_back()
                if self._db_down_logged:
                    log.info("database reachable again; claims and leases resumed")
                    self._db_down_logged = False
            except DATABASE_ERRORS as exc:
                self._db_down(exc)
                # After an outage every server's leases may have run out: give all of them a few
                # ticks to renew their own before anyone takes jobs back.
                last_take_back = time.monotonic()
            except Exception:  # the lease loop must outlive any one bad tick
                log.exception("lease tick failed")
            await asyncio.sleep(self._tick_seconds)

    async def _tick(self) -> None:
        """Renew leases (a cancel from another server shows up here), count the shared queue."""
        await self._listen()
        running = self._events.running_ids()
        held = await self._store.renew(self.owner, running, self._lease)
        for job_id in running:
            if job_id not in held:
                self._events.lease_lost(job_id)
            elif held[job_id]:
                self._events.cancel_requested(job_id)
        await self._count()

    async def _count(self) -> None:
        """Read the shared queue (in claim order) and what runs; the depth comes with it unless cut."""
        queued, running = await self._store.queue_snapshot(self._line_limit)
        self._line = SharedLine(queued, running, complete=len(queued) < self._line_limit)
        self._depth = self._line.depth() if self._line.complete else await self._store.queue_depth()

    async def _take_back(self) -> None:
        recovered = await self._store.recover(self._max_attempts)
        self._events.gave_up(recovered.failed)
        self._events.cancelled_before(recovered.cancelled)
        if recovered.requeued:
            log.warning("took back %d jobs whose server stopped renewing its lease", len(recovered.requeued))
            self._wake.set()

    async def _listen(self) -> None:
        """(Re)open the LISTEN connection; a database restart closes it."""
        if await self._listener.ensure():
            self._wake.set()  # whatever arrived while we were not listening

    def _notified(self, channel: str, payload: str) -> None:
        if channel == CANCEL_CHANNEL:
            if payload in self._events.running_ids():
                self._events.cancel_requested(payload)
        else:
            self._wake.set()

    def _db_down(self, exc: BaseException) -> None:
        if not self._db_down_logged:
            log.warning("database unreachable (%s); claims wait for it", type(exc).__name__)
            self._db_down_logged = True


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
