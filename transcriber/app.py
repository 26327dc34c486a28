"""create_app(): wiring and lifecycles (database, model, scheduler), nothing else."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor

import aiosqlite
from aiohttp import web

from transcriber import keys, openai_api, openai_errors, openapi, outbox, uploads, views
from transcriber.engine import Engine, load_engine
from transcriber.errors import error_middleware
from transcriber.handoff import SummaryRelay
from transcriber.jobs import JobService
from transcriber.metrics import Metrics
from transcriber.models import ModelNotFound
from transcriber.scheduler import Scheduler
from transcriber.settings import Settings
from transcriber.store import open_store
from transcriber.transcript import Transcript

log = logging.getLogger(__name__)
CLIENT_MAX_SIZE = 1024 * 1024  # non-streamed bodies only; uploads are streamed and counted
IO_THREADS = 32


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    loader: Callable[[Settings], Engine] = load_engine,
    on_fatal: Callable[[], None] | None = None,
) -> web.Application:
    """The application; with engine=None, loader(settings) loads the model in the background.

    on_fatal runs when the model cannot be loaded; by default the process stops itself.
    """
    metrics = Metrics()
    app = web.Application(
        # OpenAI's error shape on /v1 sits inside ours, so it sees auth failures and its own errors first.
        middlewares=[metrics.middleware(), error_middleware, openai_errors.error_middleware, views.auth_middleware],
        client_max_size=CLIENT_MAX_SIZE,
    )
    app[keys.SETTINGS] = settings
    app[keys.METRICS] = metrics
    app[keys.STARTED] = time.monotonic()
    app.cleanup_ctx.append(_io_threads)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_scheduling(engine, loader, on_fatal or _stop_process))
    views.add_routes(app)
    openai_api.add_routes(app)
    openapi.add_routes(app)
    return app


async def _io_threads(app: web.Application) -> AsyncIterator[None]:
    """Uploads hash, write, probe and fsync in threads; the default pool (cores + 4) is too small
    for many concurrent uploads, whose threads mostly wait on the disk."""
    pool = ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="io")
    asyncio.get_running_loop().set_default_executor(pool)
    yield
    pool.shutdown(wait=False, cancel_futures=True)


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    store = await open_store(settings.data_dir / "jobs.db")
    app[keys.STORE] = store
    known = {r["upload_path"] for r in await store.active_uploads()}
    removed = await asyncio.to_thread(uploads.sweep, settings.data_dir, known)
    if removed:
        log.info("removed %d partial or orphaned upload files", removed)
    yield
    await store.close()


def _scheduling(
    engine: Engine | None, loader: Callable[[Settings], Engine], on_fatal: Callable[[], None]
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        settings, metrics = app[keys.SETTINGS], app[keys.METRICS]
        scheduler = Scheduler(settings, app[keys.STORE], metrics)
        app[keys.SCHEDULER] = scheduler
        app[keys.JOBS] = JobService(settings, app[keys.STORE], scheduler, metrics)
        metrics.queue_capacity.set(settings.queue.capacity)
        relay = SummaryRelay(settings.summarizer, app[keys.STORE], settings.data_dir, metrics)
        app[keys.RELAY] = relay
        metrics.bind_gauges(lambda: len(scheduler.queue), lambda: len(scheduler.running), lambda: relay.backlog)
        if settings.summarizer.enabled:
            scheduler.completion_hooks.append(functools.partial(_want_summary, relay))
        await scheduler.recover()
        loading = asyncio.create_task(_load(scheduler, settings, metrics, engine, loader, on_fatal))
        relaying = asyncio.create_task(relay.run()) if settings.summarizer.enabled else None
        yield
        loading.cancel()
        await scheduler.stop(settings.server.shutdown_timeout)
        if relaying is not None:
            relaying.cancel()
            await asyncio.gather(relaying, return_exceptions=True)
        await relay.close()

    return lifecycle


async def _want_summary(
    relay: SummaryRelay, conn: aiosqlite.Connection, *, job_id: str, transcript: Transcript
) -> None:
    """Completion hook: in the transaction that completes the job, put its summary in the outbox."""
    await outbox.add_pending(conn, job_id)
    relay.wake()


async def _load(
    scheduler: Scheduler,
    settings: Settings,
    metrics: Metrics,
    engine: Engine | None,
    loader: Callable[[Settings], Engine],
    on_fatal: Callable[[], None],
) -> None:
    """Load the model once, off the event loop, then start the workers."""
    if engine is None:
        log.info(
            "loading model %r on %s (%s)",
            settings.whisper.model,
            settings.whisper.device,
            settings.whisper.compute_type,
        )
        try:
            engine = await asyncio.to_thread(loader, settings)
        except ModelNotFound as exc:
            _fatal(scheduler, str(exc), on_fatal)
            return
        except Exception as exc:  # a broken model file or device must stop the server, clearly
            _fatal(scheduler, f"loading model {settings.whisper.model!r} failed: {type(exc).__name__}: {exc}", on_fatal)
            return
    info = engine.info
    metrics.model_load.set(info.load_seconds)
    scheduler.start(engine)
    log.info(
        "model %s ready in %.2f s (%s, %s, %d workers x %d threads, fast_mode=%s)",
        info.name, info.load_seconds, info.device, info.compute_type, info.workers, info.cpu_threads, info.fast_mode,
    )  # fmt: skip


def _fatal(scheduler: Scheduler, message: str, on_fatal: Callable[[], None]) -> None:
    """Report one clear line and stop: a server without a model helps nobody."""
    scheduler.load_error = message
    log.error("%s", message)
    on_fatal()


def _stop_process() -> None:
    os.kill(os.getpid(), signal.SIGTERM)  # run_app turns this into a graceful shutdown
