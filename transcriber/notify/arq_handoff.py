"""The arq summary handoff: outbox rows go to Redis for the worker; results are collected back."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from typing import Any

from arq import ArqRedis, create_pool
from arq.connections import RedisSettings
from arq.constants import result_key_prefix
from arq.jobs import Job, JobStatus

from summarizer.config import SummarizerSettings
from summarizer.payload import PrivateText
from summarizer.retry import backoff_seconds
from transcriber.domain.job import SummaryStatus
from transcriber.notify.summaries import Settler
from transcriber.store import outbox
from transcriber.store.sqlite import Store
from transcriber.store.types import Row

log = logging.getLogger(__name__)
REDIS_TIMEOUT = 3.0
# arq drops a queued job after a day by default; a worker fleet may be down longer than that.
QUEUED_EXPIRY_SECONDS = 30 * 24 * 3600
STATUS_BY_ARQ = {
    JobStatus.deferred: SummaryStatus.QUEUED,
    JobStatus.queued: SummaryStatus.QUEUED,
    JobStatus.in_progress: SummaryStatus.RUNNING,
}


def _outcome(success: bool, result: Any) -> tuple[str | None, str | None]:
    """(summary, error) from what the arq task returned or raised (timeouts, retries exhausted)."""
    if not success or not isinstance(result, dict):
        return None, f"the summary job failed: {result!r}"[:500]
    if result.get("ok"):
        return str(result.get("summary") or ""), None
    return None, str(result.get("error") or "unknown error")


def _relay_redis_settings(url: str | None) -> RedisSettings:
    """Fail fast: the outbox is the retry loop, so a Redis call must never hang a pass."""
    return dataclasses.replace(
        RedisSettings.from_dsn(url or "redis://localhost:6379/0"),
        conn_timeout=int(REDIS_TIMEOUT),
        conn_retries=0,
        retry_on_timeout=False,
    )


class ArqHandoff:
    """Enqueues pending rows with a stable arq job id and collects finished results."""

    mode = "redis"

    def __init__(self, settings: SummarizerSettings, store: Store, settler: Settler):
        self._settings = settings
        self._store = store
        self._settler = settler
        self._owner = f"relay-{uuid.uuid4().hex}"  # claims outbox rows when many servers share them
        self._pool: ArqRedis | None = None
        self._down_logged = False
        self.redis_ok: bool | None = False

    async def process(self) -> None:
        pool = await self._connect()  # also keeps /health's view of Redis current
        if pool is None:
            return
        for row in await outbox.due(self._store, "pending", owner=self._owner):
            await self._enqueue(pool, row)
        for row in await outbox.due(self._store, "enqueued", owner=self._owner):
            await self._collect(pool, row["job_id"])

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()

    async def _connect(self) -> ArqRedis | None:
        try:
            if self._pool is None:
                self._pool = await create_pool(_relay_redis_settings(self._settings.redis_url))
            await asyncio.wait_for(self._pool.ping(), REDIS_TIMEOUT)
        except Exception as exc:  # Redis away: summaries wait in the outbox, transcription goes on
            self._down(exc)
            return None
        if self._down_logged:
            log.info("Redis is reachable again; resuming summary handoff")
            self._down_logged = False
        self.redis_ok = True
        return self._pool

    def _down(self, exc: BaseException) -> None:
        if not self._down_logged:
            log.warning("Redis unreachable (%s); summaries wait in the outbox", type(exc).__name__)
            self._down_logged = True
        self.redis_ok = False

    async def _enqueue(self, pool: ArqRedis, row: Row) -> None:
        job_id = row["job_id"]
        try:
            # A pending row wants a fresh run: an old result would make arq refuse the id.
            await pool.delete(f"{result_key_prefix}summarize:{job_id}")
            await pool.enqueue_job(
                "summarize",
                job_id,
                PrivateText(row["text"] or ""),
                row["language"],
                _job_id=f"summarize:{job_id}",
                _expires=QUEUED_EXPIRY_SECONDS,
            )
        except Exception as exc:  # Redis went away mid-pass: retry this row later
            delay = backoff_seconds(row["attempts"] + 1) / 5
            await outbox.retry_later(self._store, job_id, delay, f"enqueue failed: {exc}")
            self._down(exc)
            return
        await self._settler.show(job_id, SummaryStatus.QUEUED, "enqueued")
        log.info("job %s: summary queued", job_id, extra={"job_id": job_id})

    async def _collect(self, pool: ArqRedis, job_id: str) -> None:
        job = Job(f"summarize:{job_id}", pool)
        state = await job.status()
        if state in STATUS_BY_ARQ:
            await self._settler.show(job_id, STATUS_BY_ARQ[state])
        elif state == JobStatus.not_found:  # Redis lost it (no persistence, flushed): send again
            log.warning("job %s: summary job vanished from Redis; enqueueing again", job_id, extra={"job_id": job_id})
            await self._settler.show(job_id, SummaryStatus.PENDING, "pending")
        else:
            info = await job.result_info()
            if info is None:
                return
            summary, error = _outcome(info.success, info.result)
            await self._settler.settle(job_id, summary, error)
            await pool.delete(f"{result_key_prefix}summarize:{job_id}")
