"""Wake-ups for requests that wait on jobs: per job from the change feed, and all at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator


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
