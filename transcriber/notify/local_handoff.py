"""The in-process summary handoff: without Redis, the same summarizer code runs in this process."""

from __future__ import annotations

import logging
import time
import uuid

from summarizer import core
from summarizer.config import SummarizerSettings
from summarizer.errors import PermanentSummaryError, TransientSummaryError
from summarizer.retry import gave_up, next_delay
from transcriber.domain.job import SummaryStatus
from transcriber.notify.summaries import Settler
from transcriber.store import outbox
from transcriber.store.sqlite import Store
from transcriber.store.types import Row


class InProcessHandoff:
    """Summarizes one due outbox row per pass (threads for the CPU work)."""

    mode = "in-process"
    redis_ok = None

    def __init__(self, settings: SummarizerSettings, store: Store, settler: Settler):
        self._settings = settings
        self._store = store
        self._settler = settler
        self._owner = f"relay-{uuid.uuid4().hex}"  # claims outbox rows when many servers share them

    async def process(self) -> None:
        for row in await outbox.due(self._store, "pending", limit=1, owner=self._owner):
            await self._summarize(row)

    async def close(self) -> None:
        return None

    async def _summarize(self, row: Row) -> None:
        job_id = row["job_id"]
        await self._settler.show(job_id, SummaryStatus.RUNNING)
        started = time.perf_counter()
        try:
            summary = await core.summarize(row["text"] or "", row["language"], self._settings)
        except TransientSummaryError as exc:
            await self._retry(row, exc)
            return
        except PermanentSummaryError as exc:
            await self._settler.settle(job_id, None, str(exc))
            return
        seconds = time.perf_counter() - started
        logging.getLogger(__name__).info("job %s: summarized in %.2f s", job_id, seconds, extra={"job_id": job_id})
        await self._settler.settle(job_id, summary, None)

    async def _retry(self, row: Row, exc: TransientSummaryError) -> None:
        job_id, tries = row["job_id"], row["attempts"] + 1
        delay = next_delay(tries, self._settings.max_tries, exc.retry_after)
        if delay is None:
            await self._settler.settle(job_id, None, gave_up(exc, tries))
            return
        await outbox.retry_later(self._store, job_id, delay, str(exc))
        await self._settler.show(job_id, SummaryStatus.PENDING)
