"""HTTP handlers: parse the request, call the job service, shape the JSON. No business rules here."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from transcriber.domain.job import Job, JobStatus
from transcriber.errors import Code, NotFound
from transcriber.jobs.owners import OPEN
from transcriber.jobs.service import DEFAULT_PAGE
from transcriber.jobs.upload_files import Upload
from transcriber.metrics import CONTENT_TYPE
from transcriber.outputs.formats import FORMATS
from transcriber.outputs.results import result_path
from transcriber.web import keys, upload_pace, uploads, url_fetch
from transcriber.web.middlewares import caller_of, scope_of

T = TypeVar("T")

PAGE_CHUNK = 10  # jobs per encoded piece of a /jobs page


async def accept_upload(
    request: web.Request, prepare: Callable[[Upload], T], form: uploads.FormFields = uploads.JOB_FORM
) -> tuple[bool, Job, T]:
    """The one path of every upload route: admission, the streamed upload, then the job service.

    prepare(upload) may check and rewrite the received fields before the job is submitted; it runs
    in a thread, since /v1's known speakers make it decode and embed clips.
    """
    settings, service, caller = request.app[keys.SETTINGS], request.app[keys.JOBS], caller_of(request) or OPEN
    request.app[keys.SCHEDULER].admit()  # answer 503 before reading a body we would reject
    uploads.check_headers(request, settings.max_upload_bytes)  # a declared 100 GB is 413, not 507
    admission = request.app[keys.ADMISSION]
    await admission.check(caller, request.content_length)  # 429 / 507 before reading, too
    with admission.upload_slot(request.app[keys.CLIENT_ADDRESSES].of(request)):
        upload = await uploads.receive(
            request, settings.data_dir, settings.max_upload_bytes, upload_pace.Pace.of(settings), form=form
        )
        try:
            if uploads.URL_FIELD in upload.fields:  # nothing fetched for a form the service would refuse
                await service.check_fields(upload.fields)
                await url_fetch.fetch_upload(upload, settings)
            prepared = await asyncio.to_thread(prepare, upload)
        except BaseException:
            await upload.remove()
            raise
        created, job = await service.submit(upload, caller)
    return created, job, prepared


async def transcribe(request: web.Request) -> web.Response:
    service = request.app[keys.JOBS]
    created, job, _ = await accept_upload(request, lambda upload: None)
    if not created:
        return web.json_response(service.document(job), status=200)
    url = f"/status/{job.job_id}"
    body = {"job_id": job.job_id, "status": str(job.status), "status_url": url}
    return web.json_response(body, status=202, headers={"Location": url})


async def status(request: web.Request) -> web.Response:
    jobs = request.app[keys.JOBS]
    return web.json_response(await jobs.status_document(request.match_info["job_id"], scope_of(request)))


async def history(request: web.Request) -> web.StreamResponse:
    service, query = request.app[keys.JOBS], request.query
    jobs = await service.history(query.get("status"), query.get("limit"), query.get("before"), scope_of(request))
    nxt = None
    if jobs and len(jobs) == int(query.get("limit") or DEFAULT_PAGE):
        params = {k: v for k, v in query.items() if k != "before"} | {"before": jobs[-1].job_id}
        nxt = str(request.rel_url.with_query(params))
    documents = [service.document(j) for j in jobs]
    # 500 full transcripts are tens of MB of JSON: encoded in a thread a few jobs at a time (one
    # json.dumps would hold the GIL throughout) and streamed with back-pressure (one huge write
    # makes the transport shift its buffer on the loop), so /health keeps answering meanwhile.
    resp = web.StreamResponse(headers={"Content-Type": "application/json; charset=utf-8"})
    await resp.prepare(request)
    await resp.write(b'{"jobs": [')
    for start in range(0, len(documents), PAGE_CHUNK):
        batch = documents[start : start + PAGE_CHUNK]
        await resp.write(await asyncio.to_thread(_encode_batch, batch, start > 0))
    await resp.write(f'], "next": {json.dumps(nxt)}}}'.encode())
    await resp.write_eof()
    return resp


def _encode_batch(documents: list[dict[str, Any]], after_others: bool) -> bytes:
    text = ", ".join(json.dumps(d) for d in documents)
    return (", " + text if after_others else text).encode()


async def cancel(request: web.Request) -> web.Response:
    service = request.app[keys.JOBS]
    job = await service.cancel(request.match_info["job_id"], scope_of(request))
    return web.json_response(service.document(job), status=200 if job.status == JobStatus.CANCELLED else 202)


async def summarize(request: web.Request) -> web.Response:
    service, job_id = request.app[keys.JOBS], request.match_info["job_id"]
    job = await service.get(job_id, scope_of(request))
    await request.app[keys.SUMMARIES].resummarize(job_id, job.status)
    request.app[keys.CHANGES].job_changed(job_id)
    return web.json_response(await service.status_document(job_id), status=202)


async def delete(request: web.Request) -> web.Response:
    job_id = request.match_info["job_id"]
    await request.app[keys.JOBS].delete(job_id, scope_of(request))
    return web.json_response({"job_id": job_id, "deleted": True})


async def transcript_file(request: web.Request) -> web.StreamResponse:
    job_id, fmt = request.match_info["job_id"], request.match_info["fmt"]
    job = await request.app[keys.JOBS].get(job_id, scope_of(request))
    path = result_path(request.app[keys.SETTINGS].data_dir, job_id, fmt)
    if fmt not in FORMATS or job.status != JobStatus.COMPLETED or not path.is_file():
        message = f"Job {job_id!r} has no {fmt} transcript (status: {job.status})."
        raise NotFound(message, code=Code.RESULT_NOT_FOUND)
    return web.FileResponse(path, headers={"Content-Type": FORMATS[fmt].content_type})


async def health(request: web.Request) -> web.Response:
    caller, server = caller_of(request), request.app[keys.SETTINGS].server
    # an anonymous reader of a public /health is scoped to no key: it names no job under isolation
    scope = caller.scope if caller is not None else ("" if server.isolate_keys else None)
    body = await request.app[keys.HEALTH].body(scope)
    status = 200 if body["status"] == "ok" else 503
    if caller is None and not server.public_health:
        body = {"status": body["status"]}  # job ids, paths and errors only for a valid key
    return web.json_response(body, status=status)


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
