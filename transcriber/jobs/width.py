"""Which jobs may decode on every core: a short one that starts alone; the others wait for it.

A wide job's OpenMP team needs every core: a one-thread job beside it would slow both down, so a
job that starts while a wide one runs waits for it to end (at most one short job's decoding).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable


class WidthGate:
    def __init__(self, wide_threads: int, max_seconds: float):
        self._enabled = wide_threads > 1 and max_seconds > 0
        self._max_seconds = max_seconds
        self._narrow = 0
        self._waiting = 0  # jobs already taken that wait for a wide one: they go first
        self._wide = False
        self._free = asyncio.Event()
        self._free.set()

    @contextlib.asynccontextmanager
    async def hold(self, duration: float, nothing_waiting: Callable[[], bool]) -> AsyncIterator[bool]:
        """Held while a job decodes; yields whether it decodes wide.

        The counts change only between awaits, so the check and the claim cannot interleave, and
        the release needs no lock a cancellation could leave taken.
        """
        if self._wide:
            self._waiting += 1
            try:
                while self._wide:
                    await self._free.wait()
            finally:
                self._waiting -= 1
        alone = self._narrow == 0 and self._waiting == 0 and nothing_waiting()
        wide = self._enabled and duration <= self._max_seconds and alone
        if wide:
            self._wide = True
            self._free.clear()
        else:
            self._narrow += 1
        try:
            yield wide
        finally:
            if wide:
                self._wide = False
                self._free.set()
            else:
                self._narrow -= 1
