"""The summary relay: hands outbox rows to arq (or summarizes in-process) and collects results."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from pathlib import Path
from typing import Any

from arq import ArqRedis, create_pool
from arq.connections import RedisSettings
from arq.constants import result_key_prefix
from arq.jobs import Job, JobStatus

from summarizer import core
from summarizer.config import SummarizerSettings
from summarizer.errors import PermanentSummaryError, TransientSummaryError
from summarizer.payload import PrivateText
from summarizer.worker import backoff_seconds
from transcriber import outbox
from transcriber.metrics import Metrics
from transcriber.results import write_summary
from transcriber.store import Row, Store

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0
REDIS_TIMEOUT = 3.0
# arq drops a queued job after a day by default; a worker fleet may be down longer than that.
QUEUED_EXPIRY_SECONDS = 30 * 24 * 3600
STATUS_BY_ARQ = {JobStatus.deferred: "queued", JobStatus.queued: "queued", JobStatus.in_progress: "running"}


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


class SummaryRelay:
    """One background loop; all state it needs is in the outbox, so a restart resumes it."""

    def __init__(self, settings: SummarizerSettings, store: Store, data_dir: Path, metrics: Metrics):
        self._settings = settings
        self._store = store
        self._data_dir = data_dir
        self._metrics = metrics
        self._wake = asyncio.Event()
        self._pool: ArqRedis | None = None
        self._down_logged = False
        self.redis_ok: bool | None = None if not settings.redis_url else False
        self.backlog = 0
        self._owner = f"relay-{uuid.uuid4().hex}"  # claims outbox rows when many servers share them

    @property
    def mode(self) -> str:
        return "redis" if self._settings.redis_url else "in-process"

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Forever: one pass over the outbox, then wait for a wake-up or the poll interval."""
        while True:
            try:
                await self._pass()
            except Exception:  # the relay must outlive any one bad pass; the outbox keeps the work
                log.exception("summary relay pass failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()

    async def _pass(self) -> None:
        self.backlog = await outbox.backlog(self._store)
        if self.backlog == 0 and self.mode == "in-process":
            return
        try:
            await self._work()
        finally:
            self.backlog = await outbox.backlog(self._store)

    async def _work(self) -> None:
        if self.mode == "in-process":
            for row in await outbox.due(self._store, "pending", limit=1, owner=self._owner):
                await self._summarize_here(row)
            return
        pool = await self._connect()  # also keeps /health's view of Redis current
        if pool is None or self.backlog == 0:
            return
        for row in await outbox.due(self._store, "pending", owner=self._owner):
            await self._enqueue(pool, row)
        for row in await outbox.due(self._store, "enqueued", owner=self._owner):
            await self._collect(pool, row["job_id"])

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
        await outbox.mark(self._store, job_id, "enqueued", "queued")
        log.info("job %s: summary queued", job_id, extra={"job_id": job_id})

    async def _collect(self, pool: ArqRedis, job_id: str) -> None:
        job = Job(f"summarize:{job_id}", pool)
        state = await job.status()
        if state in STATUS_BY_ARQ:
            await outbox.show(self._store, job_id, STATUS_BY_ARQ[state])
        elif state == JobStatus.not_found:  # Redis lost it (no persistence, flushed): send again
            log.warning("job %s: summary job vanished from Redis; enqueueing again", job_id, extra={"job_id": job_id})
            await outbox.mark(self._store, job_id, "pending", "pending")
        else:
            info = await job.result_info()
            if info is None:
                return
            summary, error = _outcome(info.success, info.result)
            await self._settle(job_id, summary, error)
            await pool.delete(f"{result_key_prefix}summarize:{job_id}")

    async def _summarize_here(self, row: Row) -> None:
        """No Redis: the same summarizer code, in this process (threads for CPU work)."""
        job_id = row["job_id"]
        await outbox.show(self._store, job_id, "running")
        started = time.perf_counter()
        try:
            summary = await core.summarize(row["text"] or "", row["language"], self._settings)
        except TransientSummaryError as exc:
            tries = row["attempts"] + 1
            if tries >= self._settings.max_tries:
                await self._settle(job_id, None, f"{exc} (gave up after {tries} tries)")
            else:
                await outbox.retry_later(self._store, job_id, backoff_seconds(tries, exc.retry_after), str(exc))
                await outbox.show(self._store, job_id, "pending")
            return
        except PermanentSummaryError as exc:
            await self._settle(job_id, None, str(exc))
            return
        log.info("job %s: summarized in %.2f s", job_id, time.perf_counter() - started, extra={"job_id": job_id})
        await self._settle(job_id, summary, None)

    async def _settle(self, job_id: str, summary: str | None, error: str | None) -> None:
        if summary is not None:
            await asyncio.to_thread(write_summary, self._data_dir, job_id, summary)
        await outbox.settle(self._store, job_id, summary, error)
        self._metrics.summaries.labels("completed" if error is None else "failed").inc()
        if error is None:
            log.info("job %s: summary stored (%d chars)", job_id, len(summary or ""), extra={"job_id": job_id})
        else:
            log.warning("job %s: summary failed: %s", job_id, error, extra={"job_id": job_id})
