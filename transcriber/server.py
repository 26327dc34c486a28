"""Run the app until SIGTERM or SIGINT, or until the model turns out not to load."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from transcriber.app import create_app
from transcriber.engine import EngineLoader
from transcriber.exposure import protocol_options, quiet_protocol_errors, warn_if_exposed
from transcriber.settings import Settings

log = logging.getLogger(__name__)


async def serve(settings: Settings, loader: EngineLoader, *, host: str | None, port: int | None) -> int:
    """The exit status: 0 after a requested stop, 1 when the model could not be loaded."""
    app = create_app(settings, loader=loader)
    quiet_protocol_errors()
    runner = web.AppRunner(app, **protocol_options(settings.server))
    await runner.setup()
    try:
        address = (host or settings.server.host, port or settings.server.port)
        warn_if_exposed(address[0], settings.server)
        site = web.TCPSite(runner, *address, shutdown_timeout=settings.server.shutdown_timeout)
        await site.start()
        return await _until_stopped(loader)
    finally:
        await runner.cleanup()


async def _until_stopped(loader: EngineLoader) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait([stopping, asyncio.create_task(loader.wait())], return_when=asyncio.FIRST_COMPLETED)
    if not stopping.done() and loader.error() is not None:
        stopping.cancel()
        return 1  # the app's start-up task has logged the one clear line
    await stopping
    log.info("stopping: no new jobs; running ones get their shutdown timeout")
    return 0
