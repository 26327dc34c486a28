"""Claims with leases on the shared store (PostgreSQL, many servers): the SharedSource.

Idle workers wake through LISTEN/NOTIFY when a job is accepted anywhere and poll slowly as a
fallback; a ticker renews the leases of the jobs this server runs (learning of cancels sent to
other servers on the way), counts the shared queue, and takes back jobs whose server died.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid

from transcriber.domain.job import Job
from transcriber.events.waiters import wake_or_timeout
from transcriber.jobs.job_source import SourceEvents
from transcriber.jobs.shared_line import Place, SharedLine
from transcriber.setting_sections import DatabaseSettings
from transcriber.store.pg_listen import DATABASE_ERRORS, PgListener
from transcriber.store.postgres import CANCEL_CHANNEL, NEW_JOB_CHANNEL, PgStore

log = logging.getLogger(__name__)
TICK_SECONDS = 2.0  # lease renewal, cancel polling, shared queue depth (at most)
POLL_SECONDS = 5.0  # idle workers look for work this often even without a notification
RETRY_SECONDS = 1.0  # after a failed claim (database away)
# Queued jobs a tick reads for places in line, per job of queue capacity: admission keeps the shared
# queue near its capacity, so jobs past twice that (after the capacity was lowered) show no place.
LINE_PER_CAPACITY = 2


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
