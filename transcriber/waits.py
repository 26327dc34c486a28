"""Waiting for a wake-up or a poll interval, whichever comes first, in a way that stays cancellable."""

from __future__ import annotations

import asyncio
import contextlib


async def wake_or_timeout(wake: asyncio.Event, seconds: float) -> None:
    """asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that arrives together
    with a wake-up, and a background loop would then never stop."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await wake.wait()
