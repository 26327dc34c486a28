"""HTTP handlers: parse the request, call the job service, shape the JSON. No business rules here."""

from __future__ import annotations

import asyncio
import hmac
import time
from importlib.metadata import version
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from transcriber import keys, uploads
from transcriber.errors import NotFound, Unauthorized
from transcriber.formats import CONTENT_TYPES
from transcriber.jobs import DEFAULT_PAGE
from transcriber.metrics import CONTENT_TYPE
from transcriber.results import FORMATS, result_path

OPEN_PATHS = ("/health", "/metrics", "/openapi.json")
DB_PING_TIMEOUT = 2.0


async def transcribe(request: web.Request) -> web.Response:
    settings, service = request.app[keys.SETTINGS], request.app[keys.JOBS]
    request.app[keys.SCHEDULER].admit()  # answer 503 before reading a body we would reject
    upload = await uploads.receive(
        request, settings.data_dir, settings.max_upload_bytes, settings.server.upload_timeout
    )
    created, row = await service.submit(upload)
    if not created:
        return web.json_response(service.status_body(row), status=200)
    url = f"/status/{row['job_id']}"
    body = {"job_id": row["job_id"], "status": row["status"], "status_url": url}
    return web.json_response(body, status=202, headers={"Location": url})


async def status(request: web.Request) -> web.Response:
    service = request.app[keys.JOBS]
    row = await service.get(request.match_info["job_id"])
    return web.json_response(service.status_body(row))


async def history(request: web.Request) -> web.Response:
    service, query = request.app[keys.JOBS], request.query
    rows = await service.history(query.get("status"), query.get("limit"), query.get("before"))
    nxt = None
    if rows and len(rows) == int(query.get("limit") or DEFAULT_PAGE):
        params = {k: v for k, v in query.items() if k != "before"} | {"before": rows[-1]["job_id"]}
        nxt = str(request.rel_url.with_query(params))
    return web.json_response({"jobs": [service.status_body(r) for r in rows], "next": nxt})


async def cancel(request: web.Request) -> web.Response:
    service = request.app[keys.JOBS]
    row = await service.cancel(request.match_info["job_id"])
    return web.json_response(service.status_body(row), status=200 if row["status"] == "cancelled" else 202)


async def summarize(request: web.Request) -> web.Response:
    service = request.app[keys.JOBS]
    row = await service.resummarize(request.match_info["job_id"])
    request.app[keys.RELAY].wake()
    return web.json_response(service.status_body(row), status=202)


async def delete(request: web.Request) -> web.Response:
    job_id = request.match_info["job_id"]
    await request.app[keys.JOBS].delete(job_id)
    return web.json_response({"job_id": job_id, "deleted": True})


async def transcript_file(request: web.Request) -> web.StreamResponse:
    job_id, fmt = request.match_info["job_id"], request.match_info["fmt"]
    row = await request.app[keys.JOBS].get(job_id)
    path = result_path(request.app[keys.SETTINGS].data_dir, job_id, fmt)
    if fmt not in FORMATS or row["status"] != "completed" or not path.is_file():
        raise NotFound(f"Job {job_id!r} has no {fmt} transcript (status: {row['status']}).", code="result_not_found")
    return web.FileResponse(path, headers={"Content-Type": CONTENT_TYPES[fmt]})


async def health(request: web.Request) -> web.Response:
    body = await health_body(request.app)
    return web.json_response(body, status=200 if body["status"] == "ok" else 503)


async def health_body(app: web.Application) -> dict[str, Any]:
    scheduler, problems = app[keys.SCHEDULER], []
    try:
        await asyncio.wait_for(app[keys.STORE].ping(), DB_PING_TIMEOUT)
    except Exception as exc:  # any failure to answer means the database is unusable
        problems.append(f"database: {type(exc).__name__}")
    if scheduler.load_error:
        problems.append(f"model: {scheduler.load_error}")
    problems += [f"job {job_id} made no progress within its deadline" for job_id in scheduler.stalled()]
    state = "loading" if scheduler.engine is None and not scheduler.load_error else "ok"
    if problems:
        state = "degraded"
    engine = scheduler.engine
    return {
        "status": state,
        "model": None if engine is None else {
            "name": engine.info.name, "device": engine.info.device, "compute_type": engine.info.compute_type,
            "load_seconds": engine.info.load_seconds, "workers": engine.info.workers,
            "cpu_threads": engine.info.cpu_threads, "fast_mode": engine.info.fast_mode,
        },
        "queue": {"queued": len(scheduler.queue), "running": len(scheduler.running), "capacity": scheduler.capacity},
        "summaries": _summaries(app),
        "problems": problems,
        "uptime_seconds": round(time.monotonic() - app[keys.STARTED], 1),
        "version": version("transcriber"),
    }  # fmt: skip


def _summaries(app: web.Application) -> dict[str, Any]:
    """Summary backlog and Redis reachability: these degrade summaries, never transcription."""
    settings, relay = app[keys.SETTINGS].summarizer, app[keys.RELAY]
    if not settings.enabled:
        return {"enabled": False}
    return {
        "enabled": True,
        "backend": settings.backend,
        "mode": relay.mode,
        "backlog": relay.backlog,
        "redis_reachable": relay.redis_ok,
    }


async def metrics(request: web.Request) -> web.Response:
    body = request.app[keys.METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bearer API keys when configured; /health and /metrics stay open for probes and scrapers."""
    api_keys = request.app[keys.SETTINGS].server.api_keys
    if api_keys and request.path not in OPEN_PATHS:
        given = request.headers.get("Authorization", "")
        token = given[7:].strip() if given[:7].lower() == "bearer " else ""
        if not any(hmac.compare_digest(token.encode(), k.encode()) for k in api_keys):
            raise Unauthorized("A valid 'Authorization: Bearer <key>' header is required.", code="unauthorized")
    return await handler(request)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/transcribe", transcribe)
    app.router.add_get("/status/{job_id}", status)
    app.router.add_get("/jobs", history)
    app.router.add_post("/jobs/{job_id}/cancel", cancel)
    app.router.add_delete("/jobs/{job_id}", delete)
    app.router.add_post("/jobs/{job_id}/summarize", summarize)
    app.router.add_get("/jobs/{job_id}/transcript.{fmt}", transcript_file)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
