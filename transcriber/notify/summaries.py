"""Summaries of finished jobs: who wants one, asking again, waking the relay, recording outcomes."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, Protocol

from summarizer.config import SummarizerSettings
from transcriber.domain.job import SummaryStatus
from transcriber.errors import Code, Conflict
from transcriber.events.changes import ChangeFeed
from transcriber.events.waiters import wake_or_timeout
from transcriber.metrics import Metrics
from transcriber.notify.backoff import PassFailures
from transcriber.outputs.results import write_summary
from transcriber.store import outbox
from transcriber.store.sqlite import Store
from transcriber.store.types import Transaction

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0


class SummaryHandoff(Protocol):
    """Moves due outbox rows to a summarizer and settles what comes back (arq or in-process)."""

    @property
    def mode(self) -> str: ...

    @property
    def redis_ok(self) -> bool | None: ...

    async def process(self) -> None: ...

    async def close(self) -> None: ...


class Settler:
    """Records a summary's outcome: summary.txt, the job row, the outbox row, metrics and a log line."""

    def __init__(self, store: Store, data_dir: Path, metrics: Metrics, changes: ChangeFeed):
        self._store = store
        self._data_dir = data_dir
        self._metrics = metrics
        self._changes = changes

    async def show(self, job_id: str, status: SummaryStatus, outbox_state: str | None = None) -> None:
        """Show where the summary stands on the job (and move its outbox row, if given)."""
        if outbox_state is None:
            changed = await outbox.show(self._store, job_id, status)
        else:
            changed = await outbox.mark(self._store, job_id, outbox_state, status)
        if changed:
            self._changes.job_changed(job_id)

    async def settle(self, job_id: str, summary: str | None, error: str | None) -> None:
        async def write() -> None:
            if summary is not None:
                await asyncio.to_thread(write_summary, self._data_dir, job_id, summary)

        if not await outbox.settle(self._store, job_id, summary, error, write):
            log.info("job %s: summary dropped, the job was deleted", job_id, extra={"job_id": job_id})
            return
        self._changes.job_changed(job_id)
        self._metrics.summaries.labels("completed" if error is None else "failed").inc()
        if error is None:
            log.info("job %s: summary stored (%d chars)", job_id, len(summary or ""), extra={"job_id": job_id})
        else:
            log.warning("job %s: summary failed: %s", job_id, error, extra={"job_id": job_id})


class Summaries:
    """Owns whether a job wants a summary, asking for one again, and the relay loop's wake-ups."""

    def __init__(self, settings: SummarizerSettings, store: Store, handoff: SummaryHandoff):
        self._settings = settings
        self._store = store
        self._handoff = handoff
        self._wake = asyncio.Event()
        self.backlog = 0

    @property
    def enabled(self) -> bool:
        return self._settings.enabled

    async def on_completed(self, tx: Transaction, job_id: str) -> None:
        """Finish hook: in the transaction that completes the job, put its summary in the outbox."""
        await outbox.add_pending(tx, job_id)
        self.wake()

    async def resummarize(self, job_id: str, status: str) -> None:
        """Ask for a new summary (say, after changing the backend); status is the job's."""
        if not self.enabled:
            raise Conflict("Summaries are disabled in this server's configuration.", code=Code.SUMMARIES_DISABLED)
        if not await outbox.request(self._store, job_id):
            message = f"Job {job_id!r} is {status}; only completed jobs can be summarized."
            raise Conflict(message, code=Code.JOB_NOT_COMPLETED)
        log.info("job %s: new summary requested", job_id, extra={"job_id": job_id})
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Forever: one pass over the outbox, then wait for a wake-up or the poll interval."""
        failures = PassFailures("summary relay", POLL_SECONDS)
        while True:
            try:
                await self._pass()
                wait = failures.passed()
            except Exception as exc:  # the relay must outlive any one bad pass; the outbox keeps the work
                wait = failures.failed(exc)
            self._wake.clear()
            if failures.waiting:  # a wake-up (a finished job) must not cut the back-off short
                await asyncio.sleep(wait)
            else:
                await wake_or_timeout(self._wake, wait)

    async def _pass(self) -> None:
        self.backlog = await outbox.backlog(self._store)
        if self.backlog == 0 and self._handoff.mode == "in-process":
            return
        try:
            await self._handoff.process()
        finally:
            self.backlog = await outbox.backlog(self._store)

    async def close(self) -> None:
        await self._handoff.close()

    def health(self) -> dict[str, Any]:
        """Summary backlog and Redis reachability: these degrade summaries, never transcription."""
        if not self.enabled:
            return {"enabled": False}
        return {
            "enabled": True,
            "backend": self._settings.backend,
            "mode": self._handoff.mode,
            "backlog": self.backlog,
            "redis_reachable": self._handoff.redis_ok,
        }
