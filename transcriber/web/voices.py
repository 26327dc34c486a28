"""POST /voices, GET /voices, DELETE /voices/{voice_id}: enrolled voices, each owned by its key."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from transcriber.domain.speakers import check_name
from transcriber.errors import BadRequest, Code, NotFound, PayloadTooLarge
from transcriber.jobs import voices
from transcriber.jobs.owners import OPEN
from transcriber.store import voice_rows
from transcriber.web import keys
from transcriber.web.middlewares import caller_of, scope_of

MAX_CLIP_BYTES = 50 * 1024 * 1024
MAX_JSON_BYTES = 16 * 1024
SHAPE = 'Send multipart "name" and "file" (a clip of that person), or JSON {"name", "job_id", "speaker"}.'


async def _from_clip(request: web.Request) -> tuple[str, list[float], str]:
    try:
        return await _read_clip(request)
    except (ValueError, AssertionError, KeyError, HttpProcessingError) as exc:  # as uploads.py: a malformed body
        message = f"Malformed multipart body: {str(exc)[:200] or type(exc).__name__}."
        raise BadRequest(message, code=Code.INVALID_MULTIPART) from exc


async def _read_clip(request: web.Request) -> tuple[str, list[float], str]:
    reader = await request.multipart()
    name = None
    folder = request.app[keys.SETTINGS].data_dir
    tmp = Path(await asyncio.to_thread(_scratch_folder, folder))  # the disk may be slow: not on the loop
    try:
        path = tmp / "clip"
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise BadRequest(SHAPE, code=Code.INVALID_VOICE)
            if part.name == "name":
                name = (await part.read(decode=True)).decode("utf-8", "replace")
            elif part.name == "file":
                await _save(part, path)
        if name is None or not await asyncio.to_thread(path.exists):
            raise BadRequest(SHAPE, code=Code.INVALID_VOICE)
        name = check_name(name)
        vector = await voices.vector_of_clip(path)
    finally:
        await asyncio.to_thread(shutil.rmtree, tmp, True)
    return name, vector, "clip"


def _scratch_folder(folder: Path) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    return tempfile.mkdtemp(dir=folder, prefix=".voice-")


async def _save(part: BodyPartReader, path: Path) -> None:
    size = 0
    out = await asyncio.to_thread(path.open, "wb")
    try:
        while chunk := await part.read_chunk(256 * 1024):
            size += len(chunk)
            if size > MAX_CLIP_BYTES:
                raise PayloadTooLarge(
                    f"A voice clip may be at most {MAX_CLIP_BYTES >> 20} MB.", code=Code.INVALID_VOICE
                )
            await asyncio.to_thread(out.write, chunk)
    finally:
        await asyncio.to_thread(out.close)


async def _from_job(request: web.Request) -> tuple[str, list[float], str]:
    raw = await request.content.read(MAX_JSON_BYTES + 1)
    try:
        body: Any = json.loads(raw) if len(raw) <= MAX_JSON_BYTES else None
    except ValueError:
        body = None
    fields = ("name", "job_id", "speaker")
    if not isinstance(body, dict) or not all(isinstance(body.get(k), str) for k in fields):
        raise BadRequest(SHAPE, code=Code.INVALID_VOICE)
    name = check_name(body["name"])
    job = await request.app[keys.JOBS].get(body["job_id"], scope_of(request))
    return name, voices.vector_of_speaker(job, body["speaker"]), f"job {job.job_id} {body['speaker']}"


async def enroll(request: web.Request) -> web.Response:
    if request.content_type == "application/json":
        name, vector, source = await _from_job(request)
    elif request.content_type.startswith("multipart/"):
        name, vector, source = await _from_clip(request)
    else:
        raise BadRequest(SHAPE, code=Code.INVALID_VOICE)
    owner = (caller_of(request) or OPEN).key_id
    voice = await voice_rows.add(request.app[keys.STORE], owner, name, vector, source)
    return web.json_response(voice, status=201, headers={"Location": f"/voices/{voice['voice_id']}"})


async def listed(request: web.Request) -> web.Response:
    return web.json_response({"voices": await voice_rows.listed(request.app[keys.STORE], scope_of(request))})


async def delete(request: web.Request) -> web.Response:
    voice_id = request.match_info["voice_id"]
    if not await voice_rows.delete(request.app[keys.STORE], voice_id, scope_of(request)):
        raise NotFound(f"No voice {voice_id!r}.", code=Code.VOICE_NOT_FOUND)
    return web.json_response({"voice_id": voice_id, "deleted": True})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/voices", enroll)
    app.router.add_get("/voices", listed)
    app.router.add_delete("/voices/{voice_id}", delete)
