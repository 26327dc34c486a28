"""The scheduler's workers: each takes the next job and runs it within its timeout, as a part of
the Scheduler kept apart for size (the dispatch policy, views and shutdown stay in scheduler.py)."""

from __future__ import annotations

import asyncio
import logging
import time

from transcriber.clock import epoch
from transcriber.domain.job import Job, JobStatus, Outcome
from transcriber.errors import Unavailable
from transcriber.events.changes import ChangeFeed
from transcriber.jobs.claims import LocalSource
from transcriber.jobs.outage import DiskOutage, is_disk_full
from transcriber.jobs.putback import PutBack
from transcriber.jobs.runner import JobRunner, RunningJob
from transcriber.jobs.shared_source import SharedSource
from transcriber.jobs.watchdog import ThreadSlots, finished_in_time, job_timeout
from transcriber.jobs.width import WidthGate
from transcriber.metrics import Metrics
from transcriber.settings import Settings
from transcriber.store.sqlite import Store

log = logging.getLogger(__name__)
CLAIM_RETRY_SECONDS = 1.0  # after the store refused a claim


class WorkerLoopMixin:
    """The worker side of the Scheduler: one loop per thread slot, until the server stops."""

    _settings: Settings
    _store: Store
    _metrics: Metrics
    _changes: ChangeFeed
    _source: LocalSource | SharedSource
    _running: dict[str, RunningJob]
    _cancel_pending: set[str]
    _runner: JobRunner | None
    _slots: ThreadSlots | None
    _width: WidthGate
    _put_back: PutBack
    _closing: bool
    outage: DiskOutage

    async def _cleanup_upload(self, job: Job) -> None:
        raise NotImplementedError

    def _is_closing(self) -> bool:
        return self._closing

    async def _worker_loop(self, index: int) -> None:
        """Take jobs until the server stops; nothing a job or the store does ends this loop."""
        while True:
            await self.outage.wait(self._is_closing)  # no claims while the disk is full
            try:
                job = await self._source.next()
            except Exception as exc:  # the store refused the claim; the job id is back in the queue
                if is_disk_full(exc):
                    self.outage.begin("claiming the next job", exc)
                else:
                    log.exception("could not take the next job; trying again")
                await asyncio.sleep(CLAIM_RETRY_SECONDS)
                continue
            if job is None:
                return
            try:
                await self._run(job, index)
            except Unavailable as exc:  # the shared database went away mid-job: its lease brings it back
                log.warning("job %s: %s; it runs again when its lease ends", job.job_id, exc.message)
            except Exception:  # a failed job is data; the worker must live on
                log.exception("job %s: worker error", job.job_id, extra={"job_id": job.job_id})

    async def _run(self, job: Job, index: int) -> None:
        job_id = job.job_id
        if self._runner is None or self._slots is None:
            return
        run = RunningJob(job_id, job.duration)
        self._running[job_id] = run
        if job_id in self._cancel_pending:  # cancelled between its claim and now: it stops at once
            self._cancel_pending.discard(job_id)
            run.cancel.set()
        self._changes.job_changed(job_id)
        self._metrics.queue_wait.observe(max(0.0, time.time() - epoch(job.created_at)))
        started = f"attempt {job.attempts}, {run.duration:.1f} s of audio"
        log.info("job %s: started (%s)", job_id, started, extra={"job_id": job_id})
        timeout = job_timeout(run.duration, self._settings.queue)
        full: BaseException | None = None
        try:
            async with self._width.hold(run.duration, lambda: self._source.queued() == 0) as run.wide:
                task = asyncio.create_task(self._runner.run(job, run, self._slots[index]))
                finished = await finished_in_time(task, run, timeout)
                if finished is None:
                    finished = await self._timed_out(job_id, index, timeout)
        except Exception as exc:
            if not is_disk_full(exc):
                raise
            full = exc  # its results or its row could not be written
        finally:
            self._running.pop(job_id, None)
        if full is not None:
            finished = await self._put_back.settle(job, full, self._source.owner, self._is_closing)
        else:
            self._put_back.forget(job_id)
        if finished:
            await self._cleanup_upload(job)

    async def _timed_out(self, job_id: str, index: int, timeout: float) -> bool:
        """End a job that stopped making progress, and give its worker a fresh thread."""
        assert self._slots is not None
        self._slots.replace(index)
        message = f"The job made no progress for {timeout:.0f} s and was stopped."
        outcome = Outcome(JobStatus.FAILED, "timeout", message)
        ended = await self._store.finish_job(job_id, outcome, owner=self._source.owner)
        if ended:
            self._metrics.jobs.labels("failed").inc()
            self._changes.job_changed(job_id)
            log.error("job %s: timed out: %s", job_id, message, extra={"job_id": job_id})
        return ended
