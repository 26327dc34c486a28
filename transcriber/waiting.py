"""Waiting, inside a request, until a job has finished (the OpenAI routes answer only then)."""

from __future__ import annotations

import asyncio
import contextlib
import time

from aiohttp import web

from transcriber import keys
from transcriber.errors import Unavailable
from transcriber.store import FINISHED, Row

POLL_SECONDS = 0.2
RESTART_SECONDS = 30  # Retry-After when the server goes down under a waiting request


class WaitTimeout(Exception):
    """The job did not finish within the deadline; it is still queued or running."""


def track_shutdown(app: web.Application) -> None:
    """Let waiting requests answer at once when shutdown begins, instead of holding it up."""
    app[keys.STOPPING] = asyncio.Event()

    async def stopping(app: web.Application) -> None:
        app[keys.STOPPING].set()

    app.on_shutdown.append(stopping)


async def wait_finished(app: web.Application, job_id: str, timeout: float) -> Row:
    """The job's row once it is completed, failed or cancelled.

    The one place that waits: it polls the store for now and will wait on the change feed
    (transcriber.changes) once that is wired into the app. Raises NotFound if the job is deleted
    meanwhile, WaitTimeout after `timeout` seconds and Unavailable when the server shuts down
    (the job is then finished or put back in the queue by the scheduler, as any job).
    """
    service, stopping = app[keys.JOBS], app[keys.STOPPING]
    deadline = time.monotonic() + timeout
    while True:
        row = await service.get(job_id)
        if row["status"] in FINISHED:
            return row
        if stopping.is_set():
            raise Unavailable(
                f"The server is shutting down; job {job_id} resumes after the restart (see /status/{job_id}).",
                code="shutting_down",
                retry_after=RESTART_SECONDS,
            )
        if time.monotonic() >= deadline:
            raise WaitTimeout(job_id)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), POLL_SECONDS)
