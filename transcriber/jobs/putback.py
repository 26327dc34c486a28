"""A job that could not be finished for lack of space goes back to the queue, its attempt refunded;
after a few runs whose writes did not fit while the disk had room for small ones, it fails with
disk_full instead of running for ever (an outage that fills the disk for everyone counts no run)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from transcriber.clock import epoch
from transcriber.domain.job import Job, JobStatus, Outcome
from transcriber.errors import Code
from transcriber.events.changes import ChangeFeed
from transcriber.jobs.outage import DiskOutage, is_disk_full
from transcriber.metrics import Metrics
from transcriber.outputs.results import remove_results
from transcriber.settings import Settings
from transcriber.store.sqlite import Store

log = logging.getLogger(__name__)
MAX_DISK_FULL_RUNS = 3  # a job whose results never fit, though small writes do, fails at the third
DISK_FULL_MESSAGE = "The server ran out of disk space while finishing the job, three times; submit it again later."


class PutBack:
    """Settles jobs whose results or row could not be written: requeued while space may come back."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        outage: DiskOutage,
        deps: tuple[Metrics, ChangeFeed, Callable[[str, float, float], None]],
    ):
        self._settings = settings
        self._store = store
        self._outage = outage
        self._metrics, self._changes, self._enqueue = deps
        self._runs: dict[str, int] = {}

    def forget(self, job_id: str) -> None:
        self._runs.pop(job_id, None)

    async def settle(self, job: Job, exc: BaseException, owner: str | None, stopping: Callable[[], bool]) -> bool:
        """True once the job is finished (failed disk_full), False once it is back in the queue.

        While even that cannot be written, wait for space; on shutdown the row stays running and the
        next start-up takes it back."""
        runs = self._runs.get(job.job_id, 0)
        if await self._room_left():  # small writes work: this job's own writes do not fit
            runs = self._runs[job.job_id] = runs + 1
        else:  # the disk is full for everyone: an outage, which uses up none of the job's runs
            self._outage.begin(f"job {job.job_id}", exc)
        while not stopping():
            try:
                return await self._write(job, runs, owner)
            except Exception as again:
                if not is_disk_full(again):
                    raise
                self._outage.begin(f"job {job.job_id}", again)
            await self._outage.wait(stopping)
        return False

    async def _room_left(self) -> bool:
        try:
            return await self._outage.probe()
        except Exception:  # a probe that fails otherwise says nothing about this job
            return False

    async def _write(self, job: Job, runs: int, owner: str | None) -> bool:
        job_id = job.job_id
        await asyncio.to_thread(remove_results, self._settings.data_dir, job_id)
        if runs >= MAX_DISK_FULL_RUNS:
            outcome = Outcome(JobStatus.FAILED, Code.DISK_FULL, DISK_FULL_MESSAGE)
            if ended := await self._store.finish_job(job_id, outcome, owner=owner):
                self.forget(job_id)
                self._metrics.jobs.labels("failed").inc()
                self._changes.job_changed(job_id)
                log.error("job %s: failed: %s", job_id, DISK_FULL_MESSAGE, extra={"job_id": job_id})
            return ended
        await self._store.requeue_job(job_id, refund_attempt=True, owner=owner)
        self._enqueue(job_id, job.duration, epoch(job.created_at))
        self._changes.job_changed(job_id)
        log.warning(
            "job %s: could not be finished for lack of space; back in the queue (%d of %d runs that did not fit)",
            job_id,
            runs,
            MAX_DISK_FULL_RUNS,
            extra={"job_id": job_id},
        )
        return False
