"""Waiting on jobs and wake-ups: per job from the change feed, all at shutdown, or a poll interval."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator

from transcriber.domain.job import FINISHED, Job
from transcriber.errors import Code, Unavailable

# Waiters wake on the change feed; this only bounds the damage of a change that was never reported.
SAFETY_POLL_SECONDS = 5.0
RESTART_SECONDS = 30  # Retry-After when the server goes down under a waiting request


class WaitTimeout(Exception):
    """The job did not finish within the deadline; it is still queued or running."""


class Waiters:
    """Per-job wake-ups from the change feed, and one for everybody when shutdown begins."""

    def __init__(self) -> None:
        self._events: dict[str, set[asyncio.Event]] = {}
        self.stopping = False

    def job_changed(self, job_id: str) -> None:
        for event in self._events.get(job_id, ()):
            event.set()

    def stop(self) -> None:
        self.stopping = True
        for events in self._events.values():
            for event in events:
                event.set()

    @contextlib.contextmanager
    def watch(self, job_id: str) -> Iterator[asyncio.Event]:
        event = asyncio.Event()
        self._events.setdefault(job_id, set()).add(event)
        try:
            yield event
        finally:
            events = self._events[job_id]
            events.discard(event)
            if not events:
                del self._events[job_id]

    async def finished(self, get: Callable[[str], Awaitable[Job]], job_id: str, timeout: float) -> Job:
        """The job once it is completed, failed or cancelled, read through `get`.

        Raises NotFound (from `get`) if the job is deleted meanwhile, WaitTimeout after `timeout`
        seconds and Unavailable when the server shuts down (the scheduler then finishes or requeues
        the job).
        """
        deadline = time.monotonic() + timeout
        with self.watch(job_id) as changed:
            while True:
                changed.clear()  # before reading, so that a change committed after the read still wakes us
                job = await get(job_id)
                if job.status in FINISHED:
                    return job
                if self.stopping:
                    message = f"The server is shutting down; job {job_id} resumes after the restart"
                    message += f" (see /status/{job_id})."
                    raise Unavailable(message, code=Code.SHUTTING_DOWN, retry_after=RESTART_SECONDS)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WaitTimeout(job_id)
                await wake_or_timeout(changed, min(left, SAFETY_POLL_SECONDS))


async def wake_or_timeout(wake: asyncio.Event, seconds: float) -> None:
    """asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that arrives together
    with a wake-up, and a background loop would then never stop."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await wake.wait()
