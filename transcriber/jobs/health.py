"""The /health document: ready, loading or degraded, and why; it never claims more than is true."""

from __future__ import annotations

import asyncio
import time
from importlib.metadata import version
from typing import Any

from transcriber.jobs.scheduler import Scheduler
from transcriber.notify.summaries import Summaries
from transcriber.speech.engine import EngineInfo
from transcriber.speech.loader import EngineLoader
from transcriber.store.sqlite import Store

DB_PING_TIMEOUT = 2.0


class Health:
    """Reads the loader, the scheduler's snapshot, the store and the summaries; changes nothing."""

    def __init__(self, loader: EngineLoader, scheduler: Scheduler, store: Store, summaries: Summaries):
        self._loader = loader
        self._scheduler = scheduler
        self._store = store
        self._summaries = summaries
        self._started = time.monotonic()
        self._version = version("transcriber")  # package metadata is read from disk: once

    async def body(self, scope: str | None = None) -> dict[str, Any]:
        """The document as the caller may see it: with a scope (isolate_keys), only its own job ids."""
        problems = await self._problems(scope)
        info = self._loader.info()
        state = "loading" if info is None and not self._loader.error() else "ok"
        snapshot = self._scheduler.snapshot()
        return {
            "status": "degraded" if problems else state,
            "model": None if info is None else _model(info),
            "models": self._scheduler.models.listing(),
            "queue": {"queued": snapshot.queued, "running": snapshot.running, "capacity": snapshot.capacity},
            "summaries": self._summaries.health(),
            "problems": problems,
            "uptime_seconds": round(time.monotonic() - self._started, 1),
            "version": self._version,
        }

    async def _problems(self, scope: str | None) -> list[str]:
        problems = []
        try:
            await asyncio.wait_for(self._store.ping(), DB_PING_TIMEOUT)
        except Exception as exc:  # any failure to answer means the database is unusable
            problems.append(f"database: {type(exc).__name__}")
        if error := self._loader.error():
            problems.append(f"model: {error}")
        if disk := self._scheduler.outage.problem():
            problems.append(disk)
        return problems + await self._stalled(scope)

    async def _stalled(self, scope: str | None) -> list[str]:
        named, others = [], 0
        for job_id in self._scheduler.snapshot().stalled:
            job = await self._store.get_job(job_id) if scope is not None else None
            if scope is None or (job is not None and job.owner == scope):
                named.append(f"job {job_id} made no progress within its deadline")
            else:
                others += 1
        if others:  # said, so the 503 is explained, but without another key's job ids
            named.append(f"{others} job(s) of other keys made no progress within their deadline")
        return named


def _model(info: EngineInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "device": info.device,
        "compute_type": info.compute_type,
        "load_seconds": info.load_seconds,
        "workers": info.workers,
        "cpu_threads": info.cpu_threads,
        "fast_mode": info.fast_mode,
    }
