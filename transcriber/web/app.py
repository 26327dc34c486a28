"""create_app(): wiring and lifecycles (database, model, scheduler, summaries), nothing else."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from transcriber.events.changes import ChangeFeed
from transcriber.jobs import retention, sweeps
from transcriber.jobs.admission import Admission
from transcriber.jobs.health import Health
from transcriber.jobs.owners import Keyring
from transcriber.jobs.scheduler import Scheduler
from transcriber.jobs.service import JobService
from transcriber.metrics import Metrics
from transcriber.notify.arq_handoff import ArqHandoff
from transcriber.notify.local_handoff import InProcessHandoff
from transcriber.notify.summaries import Settler, Summaries, SummaryHandoff
from transcriber.notify.webhooks import WebhookRelay
from transcriber.settings import Settings
from transcriber.speech.engine import Engine
from transcriber.speech.loader import EngineLoader
from transcriber.stopping import StopBudget
from transcriber.store.backend import open_job_store
from transcriber.web import handlers, keys, openapi, page, realtime, speakers, sse, tus, voices, watch
from transcriber.web.client_address import ClientAddresses
from transcriber.web.error_mapping import error_middleware
from transcriber.web.middlewares import auth_middleware, metrics_middleware
from transcriber.web.openai import errors, routes

log = logging.getLogger(__name__)
CLIENT_MAX_SIZE = 1024 * 1024  # non-streamed bodies only; uploads are streamed and counted
IO_THREADS = 32


def create_app(
    settings: Settings, *, engine: Engine | None = None, loader: EngineLoader | None = None
) -> web.Application:
    """The application. With neither engine nor loader, the configured model loads in the background."""
    metrics = Metrics()
    app = web.Application(
        # OpenAI's error shape on /v1 sits inside ours, so it sees auth failures and its own errors first.
        middlewares=[
            metrics_middleware(metrics),
            error_middleware,
            errors.error_middleware,
            auth_middleware(Keyring(settings.server)),
        ],
        client_max_size=CLIENT_MAX_SIZE,
    )
    app[keys.SETTINGS] = settings
    app[keys.METRICS] = metrics
    app[keys.CHANGES] = ChangeFeed()
    app[keys.CLIENT_ADDRESSES] = ClientAddresses(settings.server.trusted_proxies)
    app[keys.LOADER] = EngineLoader.loaded(engine, settings) if engine is not None else loader or EngineLoader(settings)
    app.cleanup_ctx.append(_io_threads)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_core)
    app.cleanup_ctx.append(_change_bridge)
    app.cleanup_ctx.append(_webhooks)
    app.cleanup_ctx.append(_summary_relay)
    app.cleanup_ctx.append(_workers)
    app.cleanup_ctx.append(_retention)
    app.on_shutdown.append(_begin_stop)
    handlers.add_routes(app)
    sse.setup(app)
    page.setup(app)
    routes.add_routes(app)
    openapi.add_routes(app)
    tus.setup(app)  # resumable uploads at /uploads/, and their expiry
    watch.setup(app)  # the watch folder, if [watch] inbox is set
    realtime.setup(app)
    speakers.add_routes(app)
    voices.add_routes(app)
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
    store = await open_job_store(settings)
    app[keys.STORE] = store
    if not settings.retention.keep_audio:
        await sweeps.drop_finished_uploads(store, settings.data_dir)  # finished before a crash
    sweeping = asyncio.create_task(sweeps.run(store, settings))  # off the start path: disk, not history
    yield
    sweeping.cancel()
    await asyncio.gather(sweeping, return_exceptions=True)
    await store.close()


async def _begin_stop(app: web.Application) -> None:
    """Runs before aiohttp drains in-flight requests, so jobs stop while requests drain."""
    app[keys.SCHEDULER].begin_stop(StopBudget(app[keys.SETTINGS].server.shutdown_timeout))


def _handoff(app: web.Application, settler: Settler) -> SummaryHandoff:
    settings, store = app[keys.SETTINGS].summarizer, app[keys.STORE]
    if settings.redis_url:
        return ArqHandoff(settings, store, settler)
    return InProcessHandoff(settings, store, settler)


async def _core(app: web.Application) -> AsyncIterator[None]:
    """The objects handlers use: summaries, scheduler, job service, health."""
    settings, store, metrics, changes = app[keys.SETTINGS], app[keys.STORE], app[keys.METRICS], app[keys.CHANGES]
    settler = Settler(store, settings.data_dir, metrics, changes)
    summaries = Summaries(settings.summarizer, store, _handoff(app, settler))
    hooks = [summaries] if summaries.enabled else []
    scheduler = Scheduler(settings, store, metrics, changes, hooks)
    app[keys.SUMMARIES], app[keys.SCHEDULER] = summaries, scheduler
    app[keys.JOBS] = JobService(settings, store, scheduler, app[keys.LOADER], metrics, changes)
    app[keys.ADMISSION] = Admission(settings.limits, store, settings.data_dir)
    app[keys.HEALTH] = Health(app[keys.LOADER], scheduler, store, summaries)
    metrics.queue_capacity.set(settings.queue.capacity)
    metrics.bind_gauges(
        lambda: scheduler.snapshot().queued, lambda: scheduler.snapshot().running, lambda: summaries.backlog
    )
    await scheduler.recover()
    yield
    await summaries.close()


async def _change_bridge(app: web.Application) -> AsyncIterator[None]:
    """Several servers on one PostgreSQL: each one's change feed hears about every job."""
    url = app[keys.SETTINGS].database.url
    if not url:
        yield
        return
    from transcriber.events.bridge import ChangeBridge

    bridge = ChangeBridge(url, app[keys.CHANGES])
    bridge.start()
    yield
    await bridge.close()


async def _webhooks(app: web.Application) -> AsyncIterator[None]:
    """The webhook relay: reads finished jobs, wakes on job changes; stopped after the workers."""
    settings = app[keys.SETTINGS]
    relay = WebhookRelay(settings.webhooks, app[keys.STORE], app[keys.JOBS].status_document, settings.data_dir)
    app[keys.CHANGES].subscribe(relay.wake)
    async with relay.running():
        yield


async def _retention(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(_retain_after_load(app))
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _retain_after_load(app: web.Application) -> None:
    """A big first prune would slow the model's load on a small machine: it waits for it."""
    await app[keys.LOADER].wait()
    await retention.run(app[keys.STORE], app[keys.SETTINGS])


async def _summary_relay(app: web.Application) -> AsyncIterator[None]:
    summaries = app[keys.SUMMARIES]
    relaying = asyncio.create_task(summaries.run()) if summaries.enabled else None
    yield
    if relaying is not None:
        relaying.cancel()
        await asyncio.gather(relaying, return_exceptions=True)


async def _workers(app: web.Application) -> AsyncIterator[None]:
    """Start the workers once the model is loaded; on the way out, stop them first."""
    starting = asyncio.create_task(_start_when_loaded(app))
    yield
    starting.cancel()
    await app[keys.SCHEDULER].stop(StopBudget(app[keys.SETTINGS].server.shutdown_timeout))


async def _start_when_loaded(app: web.Application) -> None:
    loader, metrics = app[keys.LOADER], app[keys.METRICS]
    engine = await loader.wait()
    if engine is None:
        log.error("%s", loader.error())
        return
    info = engine.info
    metrics.model_load.set(info.load_seconds)
    app[keys.SCHEDULER].start(engine)
    shape = f"{info.device}, {info.compute_type}, {info.workers} workers x {info.cpu_threads} threads"
    log.info("model %s ready in %.2f s (%s, fast_mode=%s)", info.name, info.load_seconds, shape, info.fast_mode)
