"""Waiting, inside a request, until a job has finished (the OpenAI routes answer only then)."""

from __future__ import annotations

import asyncio
import contextlib
import time

from aiohttp import web

from transcriber import keys
from transcriber.domain.job import FINISHED, Job
from transcriber.errors import Code, Unavailable
from transcriber.waiters import Waiters

# Waiters wake on the change feed; this only bounds the damage of a change that was never reported.
SAFETY_POLL_SECONDS = 5.0
RESTART_SECONDS = 30  # Retry-After when the server goes down under a waiting request


class WaitTimeout(Exception):
    """The job did not finish within the deadline; it is still queued or running."""


def install(app: web.Application) -> None:
    """Listen to the app's change feed; wake every waiter when shutdown begins instead of holding it up."""
    waiters = Waiters()
    app[keys.WAITERS] = waiters
    app[keys.CHANGES].subscribe(waiters.job_changed)

    async def stopping(app: web.Application) -> None:
        waiters.stop()

    app.on_shutdown.append(stopping)


async def wait_finished(app: web.Application, job_id: str, timeout: float) -> Job:
    """The job once it is completed, failed or cancelled.

    Raises NotFound if the job is deleted meanwhile, WaitTimeout after `timeout` seconds and
    Unavailable when the server shuts down (the scheduler then finishes or requeues the job).
    """
    service, waiters = app[keys.JOBS], app[keys.WAITERS]
    deadline = time.monotonic() + timeout
    with waiters.watch(job_id) as changed:
        while True:
            changed.clear()  # before reading, so that a change committed after the read still wakes us
            job = await service.get(job_id)
            if job.status in FINISHED:
                return job
            if waiters.stopping:
                message = f"The server is shutting down; job {job_id} resumes after the restart (see /status/{job_id})."
                raise Unavailable(message, code=Code.SHUTTING_DOWN, retry_after=RESTART_SECONDS)
            left = deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeout(job_id)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), min(left, SAFETY_POLL_SECONDS))
