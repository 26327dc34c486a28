"""Waiting, inside a request, until a job has finished (the OpenAI routes answer only then)."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from transcriber import keys
from transcriber.store import FINISHED, Row

POLL_SECONDS = 0.2


class WaitTimeout(Exception):
    """The job did not finish within the deadline; it is still queued or running."""


async def wait_finished(app: web.Application, job_id: str, timeout: float) -> Row:
    """The job's row once it is completed, failed or cancelled.

    The one place that waits: it polls the store for now and will wait on the change feed
    (transcriber.changes) once that is wired into the app. Raises NotFound if the job is deleted
    meanwhile and WaitTimeout after `timeout` seconds.
    """
    service = app[keys.JOBS]
    deadline = time.monotonic() + timeout
    while True:
        row = await service.get(job_id)
        if row["status"] in FINISHED:
            return row
        if time.monotonic() >= deadline:
            raise WaitTimeout(job_id)
        await asyncio.sleep(POLL_SECONDS)
