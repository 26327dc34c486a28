"""HTTP handlers: parse the request, call the job service, shape the JSON. No business rules here."""

from __future__ import annotations

from aiohttp import web

from transcriber import keys, uploads
from transcriber.errors import Code, NotFound
from transcriber.formats import FORMATS
from transcriber.job import JobStatus
from transcriber.jobs import DEFAULT_PAGE
from transcriber.metrics import CONTENT_TYPE
from transcriber.results import result_path


async def transcribe(request: web.Request) -> web.Response:
    settings, service = request.app[keys.SETTINGS], request.app[keys.JOBS]
    request.app[keys.SCHEDULER].admit()  # answer 503 before reading a body we would reject
    upload = await uploads.receive(
        request, settings.data_dir, settings.max_upload_bytes, settings.server.upload_timeout
    )
    created, job = await service.submit(upload)
    if not created:
        return web.json_response(service.document(job), status=200)
    url = f"/status/{job.job_id}"
    body = {"job_id": job.job_id, "status": str(job.status), "status_url": url}
    return web.json_response(body, status=202, headers={"Location": url})


async def status(request: web.Request) -> web.Response:
    return web.json_response(await request.app[keys.JOBS].status_document(request.match_info["job_id"]))


async def history(request: web.Request) -> web.Response:
    service, query = request.app[keys.JOBS], request.query
    jobs = await service.history(query.get("status"), query.get("limit"), query.get("before"))
    nxt = None
    if jobs and len(jobs) == int(query.get("limit") or DEFAULT_PAGE):
        params = {k: v for k, v in query.items() if k != "before"} | {"before": jobs[-1].job_id}
        nxt = str(request.rel_url.with_query(params))
    return web.json_response({"jobs": [service.document(j) for j in jobs], "next": nxt})


async def cancel(request: web.Request) -> web.Response:
    service = request.app[keys.JOBS]
    job = await service.cancel(request.match_info["job_id"])
    return web.json_response(service.document(job), status=200 if job.status == JobStatus.CANCELLED else 202)


async def summarize(request: web.Request) -> web.Response:
    service, job_id = request.app[keys.JOBS], request.match_info["job_id"]
    job = await service.get(job_id)
    await request.app[keys.SUMMARIES].resummarize(job_id, job.status)
    request.app[keys.CHANGES].job_changed(job_id)
    return web.json_response(await service.status_document(job_id), status=202)


async def delete(request: web.Request) -> web.Response:
    job_id = request.match_info["job_id"]
    await request.app[keys.JOBS].delete(job_id)
    return web.json_response({"job_id": job_id, "deleted": True})


async def transcript_file(request: web.Request) -> web.StreamResponse:
    job_id, fmt = request.match_info["job_id"], request.match_info["fmt"]
    job = await request.app[keys.JOBS].get(job_id)
    path = result_path(request.app[keys.SETTINGS].data_dir, job_id, fmt)
    if fmt not in FORMATS or job.status != JobStatus.COMPLETED or not path.is_file():
        message = f"Job {job_id!r} has no {fmt} transcript (status: {job.status})."
        raise NotFound(message, code=Code.RESULT_NOT_FOUND)
    return web.FileResponse(path, headers={"Content-Type": FORMATS[fmt].content_type})


async def health(request: web.Request) -> web.Response:
    body = await request.app[keys.HEALTH].body()
    return web.json_response(body, status=200 if body["status"] == "ok" else 503)


async def metrics(request: web.Request) -> web.Response:
    body = request.app[keys.METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


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
