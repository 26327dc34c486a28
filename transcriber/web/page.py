"""The web page at / (static files shipped in the package) and GET /jobs/{job_id}/audio."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from transcriber.errors import Code, NotFound
from transcriber.web import keys
from transcriber.web.middlewares import scope_of

STATIC = Path(__file__).resolve().parent / "static"
# PyAV demuxer names (the first part of upload_format) -> what an <audio> element is told.
AUDIO_TYPES = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "ogg": "audio/ogg",
    "flac": "audio/flac",
    "mov": "audio/mp4",
    "matroska": "audio/webm",
    "aac": "audio/aac",
    "asf": "audio/x-ms-wma",
    "aiff": "audio/aiff",
}
PAGE_HEADERS = {
    "Cache-Control": "no-cache",  # revalidate, so an upgrade shows at once
    "Content-Security-Policy": "default-src 'self'; media-src 'self' blob:; img-src 'self' data:",
    "X-Content-Type-Options": "nosniff",
}


def setup(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_static("/static/", STATIC, append_version=False)
    app.router.add_get("/jobs/{job_id}/audio", job_audio)


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers={**PAGE_HEADERS, "Content-Type": "text/html"})


async def job_audio(request: web.Request) -> web.FileResponse:
    """The upload as it was received; Range requests work, so a player can seek."""
    job_id = request.match_info["job_id"]
    job = await request.app[keys.JOBS].get(job_id, scope_of(request))
    path = request.app[keys.SETTINGS].data_dir / job.upload_path if job.upload_path else None
    if path is None or not path.is_file():
        raise NotFound(f"The audio of job {job_id!r} is no longer kept.", code=Code.AUDIO_NOT_FOUND)
    return web.FileResponse(path, headers={"Content-Type": audio_type(job.upload_format)})


def audio_type(upload_format: str | None) -> str:
    """A media type from the probed container, e.g. 'mov,mp4,m4a,3gp,3g2,mj2/aac' -> audio/mp4."""
    demuxer = (upload_format or "").split("/")[0].split(",")[0]
    return AUDIO_TYPES.get(demuxer, "application/octet-stream")
