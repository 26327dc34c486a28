"""Many rows made into dicts or jobs off the event loop: one /events snapshot reads ~600 jobs.

Converting them on the loop held it 20-30 ms at a time (py-spy, 10,000 queued), which was the
/health p99 of bench/history_scale.py while a new /events client opened every second. In a
thread the conversion still takes the GIL, but it hands it back every switch interval (5 ms).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
U = TypeVar("U")
BIG = 64  # fewer rows than this are converted in place: a thread hop costs more than they do


async def each(items: Sequence[T], convert: Callable[[T], U]) -> list[U]:
    if len(items) < BIG:
        return [convert(item) for item in items]
    return await asyncio.to_thread(lambda: [convert(item) for item in items])
