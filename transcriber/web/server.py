"""Run the app until SIGTERM or SIGINT, or until the model turns out not to load."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
import time

from aiohttp import web

from transcriber.settings import Settings
from transcriber.speech.loader import EngineLoader
from transcriber.stopping import StopBudget
from transcriber.web.app import create_app
from transcriber.web.exposure import protocol_options, quiet_protocol_errors, warn_if_exposed

log = logging.getLogger(__name__)
IDLE_THREAD_GRACE = 0.5


async def serve(settings: Settings, loader: EngineLoader, *, host: str | None, port: int | None) -> int:
    """The exit status: 0 after a requested stop, 1 when the model could not be loaded."""
    app = create_app(settings, loader=loader)
    quiet_protocol_errors()
    # In-flight requests drain while running jobs stop (the app's on_shutdown starts that), both
    # within the one stop budget: SIGTERM to exit stays under [server] shutdown_timeout.
    drain = StopBudget(settings.server.shutdown_timeout).http_drain()
    runner = web.AppRunner(app, shutdown_timeout=drain, **protocol_options(settings.server))
    await runner.setup()
    try:
        address = (host or settings.server.host, port or settings.server.port)
        warn_if_exposed(address[0], settings.server)
        site = web.TCPSite(runner, *address)
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


def exit_without_stuck_threads(code: int) -> None:
    """Exit now if a thread outlived the stop (a job that ignored its interrupt, a model still
    loading): Python would otherwise wait for it at exit, past any grace period. Everything
    durable is committed by now; the job it ran is back in the queue."""
    deadline = time.monotonic() + IDLE_THREAD_GRACE  # idle pool threads take a moment to notice
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join(max(0.0, deadline - time.monotonic()))
    main = threading.main_thread()
    stuck = [t.name for t in threading.enumerate() if t is not main and t.is_alive() and not t.daemon]
    if not stuck:
        return
    log.warning("exiting without %d busy threads (%s)", len(stuck), ", ".join(sorted(stuck)[:5]))
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
