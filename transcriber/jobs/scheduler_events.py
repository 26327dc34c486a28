"""What the job source reports to the scheduler about the jobs running here (cancels, lost leases,
jobs recovery ended), as a part of the Scheduler kept apart for size."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from typing import Any

from transcriber.domain.job import Job
from transcriber.events.changes import ChangeFeed
from transcriber.jobs.runner import RunningJob
from transcriber.metrics import Metrics
from transcriber.settings import Settings

log = logging.getLogger(__name__)


class SourceEventsMixin:
    """The SourceEvents side of the Scheduler."""

    _settings: Settings
    _metrics: Metrics
    _changes: ChangeFeed
    _running: dict[str, RunningJob]

    def spawn(self, coro: Awaitable[Any]) -> None:
        raise NotImplementedError

    async def _cleanup_upload(self, job: Job) -> None:
        raise NotImplementedError

    def running_ids(self) -> list[str]:
        return list(self._running)

    def cancel_requested(self, job_id: str) -> None:
        if (run := self._running.get(job_id)) is not None and not run.cancel.is_set():
            log.info("job %s: cancel requested through another server", job_id, extra={"job_id": job_id})
            run.cancel.set()

    def lease_lost(self, job_id: str) -> None:
        """Another server took the job over (this one could not renew in time): stop, write nothing."""
        if (run := self._running.get(job_id)) is not None and not run.interrupt.is_set():
            log.warning("job %s: lease lost; another server runs it now", job_id, extra={"job_id": job_id})
            run.interrupt.set()

    def gave_up(self, failed: Sequence[Job]) -> None:
        for job in failed:
            crashes = self._settings.queue.max_attempts
            log.error(
                "job %s: failed, it was running during %d crashes", job.job_id, crashes, extra={"job_id": job.job_id}
            )
            self._metrics.jobs.labels("failed").inc()
            self._changes.job_changed(job.job_id)
            self.spawn(self._cleanup_upload(job))

    def cancelled_before(self, cancelled: Sequence[Job]) -> None:
        """Jobs whose cancel was committed before a crash: finished as cancelled, never rerun."""
        for job in cancelled:
            log.info("job %s: cancelled (requested before the restart)", job.job_id, extra={"job_id": job.job_id})
            self._metrics.jobs.labels("cancelled").inc()
            self._changes.job_changed(job.job_id)
            self.spawn(self._cleanup_upload(job))
