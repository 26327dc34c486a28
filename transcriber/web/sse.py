"""Server-sent events over HTTP: GET /events and GET /jobs/{job_id}/events, fed by the broker."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from transcriber.events.broker import RETRY_MS, EventBroker
from transcriber.events.listeners import Body, StreamClosed, Subscription
from transcriber.jobs.service import JobService
from transcriber.web import keys
from transcriber.web.middlewares import scope_of
from transcriber.web.visible import VisibleJobs

log = logging.getLogger(__name__)
SNAPSHOT_RECENT = 100  # finished jobs a fresh /events stream starts with, besides every active one
SNAPSHOT_ACTIVE = 500  # running jobs (there are only as many as workers)
# The newest queued jobs a fresh stream starts with; /jobs?status=queued pages through the rest. With
# 10,000 queued, rendering 500 of them for each new client was what kept /health's p99 over 20 ms.
SNAPSHOT_QUEUED = 100
# Jobs rendered between two turns of the event loop while a snapshot is built: a snapshot is up to
# ~200 bodies (was ~500: tens of ms of CPU on a loaded machine); in one go it stalled /health.
SNAPSHOT_BATCH = 50
HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache, no-transform",
    "X-Accel-Buffering": "no",  # nginx: pass events through as they come
}


def setup(app: web.Application) -> None:
    """Routes, the broker's lifecycle, and ending the streams first on shutdown."""
    app.router.add_get("/events", all_events, allow_head=False)
    app.router.add_get("/jobs/{job_id}/events", job_events, allow_head=False)
    app.cleanup_ctx.append(_broker)
    app.on_shutdown.append(_end_streams)


async def _broker(app: web.Application) -> AsyncIterator[None]:
    service = app[keys.JOBS]

    async def snapshot() -> list[Body]:
        return await _snapshot(service)

    enabled = app[keys.SETTINGS].summarizer.enabled
    broker = EventBroker(service.status_document, snapshot, summaries_enabled=enabled)
    app[keys.EVENTS] = broker
    app[keys.CHANGES].subscribe(broker.job_changed)
    yield
    broker.close()


async def _end_streams(app: web.Application) -> None:
    if keys.EVENTS in app:
        app[keys.EVENTS].close()


async def _snapshot(service: JobService) -> list[Body]:
    """The running jobs, the newest SNAPSHOT_QUEUED queued ones and the most recent finished ones,
    oldest first; rendered a batch at a time, so other requests are answered in between."""
    jobs = [
        *await service.history("running", str(SNAPSHOT_ACTIVE), None),
        *await service.history("queued", str(SNAPSHOT_QUEUED), None),
        *await service.history(None, str(SNAPSHOT_RECENT), None),
    ]
    unique = {job.job_id: job for job in jobs}
    ordered = sorted(unique.values(), key=lambda j: (j.created_at, j.job_id))
    bodies: list[Body] = []
    for start in range(0, len(ordered), SNAPSHOT_BATCH):
        if start:
            await asyncio.sleep(0)
        bodies += [service.document(job) for job in ordered[start : start + SNAPSHOT_BATCH]]
    return bodies


def _last_event_id(request: web.Request) -> str | None:
    """EventSource resends it as a header; a fresh page can pass it in the query instead."""
    return request.headers.get("Last-Event-ID") or request.query.get("last_event_id")


async def all_events(request: web.Request) -> web.StreamResponse:
    return await _stream(request, None)


async def job_events(request: web.Request) -> web.StreamResponse:
    return await _stream(request, request.match_info["job_id"])


async def _stream(request: web.Request, job_id: str | None) -> web.StreamResponse:
    broker, visible = request.app[keys.EVENTS], VisibleJobs(request.app[keys.JOBS], scope_of(request))
    response = web.StreamResponse(headers=HEADERS)
    if job_id is not None:
        await request.app[keys.JOBS].get(job_id, scope_of(request))  # another key's job: 404
        sub, first = await broker.open(job_id, _last_event_id(request))  # 404 before any byte is sent
    else:
        # Nothing left to refuse: the stream opens before the current state is read and rendered
        # (hundreds of jobs with a big queue), so the client sees it connected at once.
        try:
            await _open(response, request)
            sub, first = await broker.open(None, _last_event_id(request))
        except ConnectionError:
            return response
        except Exception:  # too late for an error status: end the stream, the client reconnects
            log.exception("GET /events: could not send the current state")
            return response
    try:
        if not response.prepared:
            await _open(response, request)
        events = [event for event in first if await visible(event.job_id)]
        end = next((i for i, e in enumerate(events) if e.final), None) if job_id is not None else None
        if events:  # one write for the whole snapshot, not one per job
            await response.write(b"".join(e.wire for e in events[: None if end is None else end + 1]))
        if end is None:
            await _follow(response, sub, broker, visible)
    except (ConnectionError, StreamClosed):
        pass  # the client left, fell behind, or the server is stopping: it reconnects and resumes
    finally:
        broker.close_subscription(sub)
    return response


async def _open(response: web.StreamResponse, request: web.Request) -> None:
    await response.prepare(request)
    await response.write(f"retry: {RETRY_MS}\n\n".encode())


async def _follow(response: web.StreamResponse, sub: Subscription, broker: EventBroker, visible: VisibleJobs) -> None:
    """Live events until the job's last one; a comment line when nothing happened for a while."""
    while True:
        event = await sub.next(broker.keepalive)
        if event is None:
            await response.write(b": keep-alive\n\n")
            continue
        if not await visible(event.job_id):
            continue
        await response.write(event.wire)
        if sub.job_id is not None and event.final:
            return
