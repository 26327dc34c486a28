"""With a shared store: carries the ChangeFeed between servers, so live events and webhooks on
any server hear about jobs another server accepted, ran, cancelled or summarized.

Each server sends the ids of jobs that changed here with NOTIFY (coalesced over 0.1 s, so a
running job's progress costs a few notifications a second at most) and replays the ids other
servers send into its own feed. Listeners then read the job from the shared store as usual.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from transcriber.events.changes import ChangeFeed
from transcriber.events.waiters import wake_or_timeout
from transcriber.store.pg_listen import PgListener
from transcriber.store.postgres import CONNECTION_ERRORS

log = logging.getLogger(__name__)
CHANNEL = "transcriber_job_changed"
COALESCE_SECONDS = 0.1
RECONNECT_SECONDS = 1.0
PAYLOAD_LIMIT = 7000  # bytes; PostgreSQL's NOTIFY payload limit is 8000


class ChangeBridge:
    """One LISTEN/NOTIFY connection per server; reconnects by itself after a database restart."""

    def __init__(self, url: str, changes: ChangeFeed):
        self._changes = changes
        self._me = uuid.uuid4().hex[:12]
        self._pending: set[str] = set()
        self._replaying = False
        self._wake = asyncio.Event()
        self._listener = PgListener(url, {CHANNEL: self._changed_elsewhere})
        self._task: asyncio.Task[None] | None = None
        self._down_logged = False
        changes.subscribe(self._changed_here)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="change-bridge")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._listener.close()

    def _changed_here(self, job_id: str) -> None:
        if not self._replaying:  # what another server told us is not ours to repeat
            self._pending.add(job_id)
            self._wake.set()

    def _changed_elsewhere(self, channel: str, payload: str) -> None:
        sender, _, ids = payload.partition(" ")
        if sender == self._me:
            return
        self._replaying = True
        try:
            for job_id in ids.split():
                self._changes.job_changed(job_id)
        finally:
            self._replaying = False

    async def _run(self) -> None:
        while True:
            try:
                await self._connect()
                await wake_or_timeout(self._wake, 5.0)  # also re-checks the connection
                self._wake.clear()
                await asyncio.sleep(COALESCE_SECONDS)
                await self._flush()
            except CONNECTION_ERRORS as exc:
                if not self._down_logged:
                    log.warning("change bridge: database unreachable (%s); retrying", type(exc).__name__)
                    self._down_logged = True
                await asyncio.sleep(RECONNECT_SECONDS)

    async def _connect(self) -> None:
        if await self._listener.ensure() and self._down_logged:
            log.info("change bridge: connected again")
            self._down_logged = False

    async def _flush(self) -> None:
        ids, self._pending = sorted(self._pending), set()
        try:
            for chunk in _chunks(ids):
                await self._listener.notify(CHANNEL, f"{self._me} {chunk}")
        except BaseException:
            self._pending.update(ids)  # sent again once the database is back
            raise


def _chunks(ids: list[str]) -> list[str]:
    """Space-separated ids in pieces that fit one NOTIFY payload."""
    chunks, current = [], ""
    for job_id in ids:
        if current and len(current) + len(job_id) + 1 > PAYLOAD_LIMIT:
            chunks.append(current)
            current = ""
        current = f"{current} {job_id}".strip()
    return [*chunks, current] if current else chunks
