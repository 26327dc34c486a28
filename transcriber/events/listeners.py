"""What one listener receives: encoded events, its bounded queue, and when a job's stream ends."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

Body = dict[str, Any]
FINISHED = ("completed", "failed", "cancelled")
SUMMARY_BUSY = ("pending", "queued", "running")
QUEUE_SIZE = 500


def finished(body: Body, summaries_enabled: bool) -> bool:
    """Nothing more will change: the job ended, and so did its summary (if summaries run)."""
    if body.get("status") not in FINISHED:
        return False
    summary = body.get("summary") or {}
    return not (summaries_enabled and body["status"] == "completed" and summary.get("status") in SUMMARY_BUSY)


@dataclass(frozen=True)
class Event:
    """One rendered event, encoded once for every subscriber."""

    job_id: str
    wire: bytes
    final: bool  # the job's stream ends after it
    seq: int = 0


def encode(event_id: str | None, name: str, data: Body | str) -> bytes:
    """One SSE event; data is the body, or its JSON text when the caller has it already."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"{head}event: {name}\ndata: {text}\n\n".encode()


class StreamClosed(Exception):
    """The broker is shutting down, or the subscriber fell too far behind and was dropped."""


@dataclass(eq=False)
class Subscription:
    """One listener's bounded queue; a client that cannot keep up is dropped, not buffered."""

    job_id: str | None
    limit: int = QUEUE_SIZE
    _queue: deque[Event] = field(default_factory=deque)
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    closed: str = ""  # why the stream must end: "overflow" or "shutdown"

    def push(self, event: Event) -> None:
        if self.closed:
            return
        if len(self._queue) >= self.limit:
            self.close("overflow")
            return
        self._queue.append(event)
        self._ready.set()

    def close(self, why: str) -> None:
        self.closed = self.closed or why
        self._ready.set()

    async def next(self, timeout: float) -> Event | None:
        """The next event, or None when timeout passes first (time for a keep-alive)."""
        if not self._queue and not self.closed:
            # asyncio.timeout, not wait_for: on 3.11 wait_for wraps each wait in a new task.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._ready.wait()
        if self.closed:
            raise StreamClosed(self.closed)
        if not self._queue:
            return None
        event = self._queue.popleft()
        if not self._queue:
            self._ready.clear()
        return event
