"""Which jobs' events a caller limited to its own jobs (isolate_keys) may receive on GET /events."""

from __future__ import annotations

from transcriber.errors import NotFound
from transcriber.jobs.service import JobService

MAX_REMEMBERED = 10_000


class VisibleJobs:
    """Remembers each job's owner once per stream, so a 'deleted' event (row gone) still routes."""

    def __init__(self, service: JobService, scope: str | None):
        self._service = service
        self._scope = scope
        self._owners: dict[str, str | None] = {}

    async def __call__(self, job_id: str) -> bool:
        if self._scope is None:
            return True
        if job_id not in self._owners:
            if len(self._owners) >= MAX_REMEMBERED:
                self._owners.clear()
            try:
                self._owners[job_id] = (await self._service.get(job_id)).owner
            except NotFound:
                self._owners[job_id] = None  # gone before this stream saw it: not shown
        return self._owners[job_id] == self._scope
