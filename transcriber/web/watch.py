"""Starts and stops the watch folder (jobs/watch_folder.py) with the server, when one is configured."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from transcriber.jobs.watch_folder import WatchFolder
from transcriber.web import keys


def setup(app: web.Application) -> None:
    if app[keys.SETTINGS].watch.inbox:
        app.cleanup_ctx.append(_watching)


async def _watching(app: web.Application) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(WatchFolder(app[keys.SETTINGS], app[keys.JOBS]).run(stop))
    yield
    stop.set()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
