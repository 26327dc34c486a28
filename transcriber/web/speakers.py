"""PATCH /jobs/{job_id}/speakers: rename a diarized job's speakers."""

from __future__ import annotations

import json

from aiohttp import web

from transcriber.errors import BadRequest, Code
from transcriber.jobs import speakers
from transcriber.jobs.runner import cue_layout
from transcriber.web import keys
from transcriber.web.middlewares import scope_of

MAX_BODY_BYTES = 64 * 1024


async def rename(request: web.Request) -> web.Response:
    service, job_id, settings = request.app[keys.JOBS], request.match_info["job_id"], request.app[keys.SETTINGS]
    job = await service.get(job_id, scope_of(request))
    raw = await request.content.read(MAX_BODY_BYTES + 1)
    try:
        body = json.loads(raw) if len(raw) <= MAX_BODY_BYTES else None
    except ValueError:
        body = None
    if body is None:
        raise BadRequest(
            'The body must be a JSON object of speaker ids to names: {"S1": "Anna"}.', code=Code.INVALID_SPEAKERS
        )
    await speakers.rename(request.app[keys.STORE], settings.data_dir, cue_layout(settings.output), job, body)
    request.app[keys.CHANGES].job_changed(job_id)
    return web.json_response(await service.status_document(job_id, scope_of(request)))


def add_routes(app: web.Application) -> None:
    app.router.add_patch("/jobs/{job_id}/speakers", rename)
