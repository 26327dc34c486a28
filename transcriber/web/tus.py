"""tus 1.0 resumable uploads at /uploads/ (core, creation, termination, expiration): the HTTP side."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from email.utils import formatdate
from typing import Any

from aiohttp import hdrs, web

from transcriber.domain.options import TEXT_FIELDS
from transcriber.errors import (
    BadRequest,
    Code,
    PayloadTooLarge,
    PreconditionFailed,
    ServiceError,
    UnsupportedMedia,
    UploadTimeout,
    invalid,
)
from transcriber.jobs.owners import OPEN
from transcriber.jobs.resumable import ResumableUploads, parse_length
from transcriber.store.tus_rows import TusRow
from transcriber.web import keys
from transcriber.web.error_mapping import error_response, retry_headers, status_of
from transcriber.web.middlewares import caller_of, scope_of

log = logging.getLogger(__name__)
VERSION = "1.0.0"
EXTENSIONS = "creation,termination,expiration"
OFFSET_TYPE = "application/offset+octet-stream"
READ_CHUNK = 256 * 1024
MAX_VALUE_BYTES = 8192
FILENAME_KEYS = ("filename", "name")  # tus-js-client and Uppy send `name`
IGNORED_KEYS = ("filetype", "type", "mimetype", "relativePath")  # the server probes the bytes instead
EXPOSED = "Location, Upload-Offset, Upload-Length, Upload-Metadata, Upload-Expires, Tus-Resumable, X-Job-Id"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def setup(app: web.Application) -> None:
    app.router.add_route("OPTIONS", "/uploads/", _tus(options, check_version=False))
    app.router.add_post("/uploads/", _tus(create))
    app.router.add_route("HEAD", "/uploads/{upload_id}", _tus(head))
    app.router.add_patch("/uploads/{upload_id}", _tus(patch))
    app.router.add_delete("/uploads/{upload_id}", _tus(delete))
    app.cleanup_ctx.append(_lifecycle)


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    uploads = ResumableUploads(settings, app[keys.STORE], app[keys.JOBS], app[keys.ADMISSION], app[keys.SCHEDULER])
    app[keys.TUS] = uploads
    task = asyncio.create_task(_expire_forever(uploads, min(60.0, max(0.2, settings.ingest.tus_expiry_seconds / 4))))
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _expire_forever(uploads: ResumableUploads, every: float) -> None:
    while True:
        try:
            await uploads.expire()
        except Exception:  # a database hiccup: the next pass tries again
            log.exception("expiring resumable uploads failed")
        await asyncio.sleep(every)


def _tus(handler: Handler, *, check_version: bool = True) -> Handler:
    """Every answer carries Tus-Resumable; errors keep the JSON shape (tus clients read the status)."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            if check_version and request.headers.get("Tus-Resumable") != VERSION:
                raise PreconditionFailed(f"Send Tus-Resumable: {VERSION}.", code=Code.UNSUPPORTED_TUS_VERSION)
            response = await handler(request)
        except ServiceError as exc:
            response = error_response(status_of(exc), exc.code, exc.message, retry_headers(exc))
            response.headers["Tus-Version"] = VERSION
        response.headers["Tus-Resumable"] = VERSION
        response.headers["Access-Control-Expose-Headers"] = EXPOSED
        return response

    return wrapped


async def options(request: web.Request) -> web.Response:
    settings = request.app[keys.SETTINGS]
    headers = {"Tus-Version": VERSION, "Tus-Extension": EXTENSIONS, "Tus-Max-Size": str(settings.max_upload_bytes)}
    return web.Response(status=204, headers=headers)


async def create(request: web.Request) -> web.Response:
    if "Upload-Defer-Length" in request.headers:
        raise BadRequest("Upload-Defer-Length is not supported; send Upload-Length.", code=Code.INVALID_UPLOAD_LENGTH)
    if request.content_length:  # creation-with-upload is not offered: the bytes come by PATCH
        raise BadRequest("Send the bytes with PATCH after creating the upload.", code=Code.INVALID_MULTIPART)
    length = parse_length(request.headers.get("Upload-Length"))
    raw = request.headers.get("Upload-Metadata", "")
    fields, filename = parse_metadata(raw)
    row = await request.app[keys.TUS].create(caller_of(request) or OPEN, length, fields, filename, raw)
    headers = {"Location": f"/uploads/{row.upload_id}", "Upload-Offset": "0", **_expiry(request, row)}
    return web.Response(status=201, headers=headers)


async def head(request: web.Request) -> web.Response:
    row = await request.app[keys.TUS].get(request.match_info["upload_id"], scope_of(request))
    headers = {
        "Upload-Offset": str(row.upload_offset),
        "Upload-Length": str(row.upload_length),
        "Cache-Control": "no-store",
        **_expiry(request, row),
    }
    if row.metadata:
        headers["Upload-Metadata"] = row.metadata
    return web.Response(status=200, headers=headers)


async def patch(request: web.Request) -> web.Response:
    uploads, caller = request.app[keys.TUS], caller_of(request) or OPEN
    row = await uploads.get(request.match_info["upload_id"], scope_of(request))
    if request.headers.get(hdrs.CONTENT_TYPE, "").split(";")[0].strip().lower() != OFFSET_TYPE:
        raise UnsupportedMedia(f"A PATCH body must be {OFFSET_TYPE}.", code=Code.INVALID_CONTENT_TYPE)
    if request.headers.get(hdrs.CONTENT_ENCODING, "identity").strip().lower() != "identity":
        raise UnsupportedMedia("Send the body uncompressed.", code=Code.UNSUPPORTED_ENCODING)
    offset = _offset(request.headers.get("Upload-Offset"))
    declared = request.content_length
    if declared is not None and offset + declared > row.upload_length:
        raise PayloadTooLarge(
            f"The body goes past Upload-Length ({row.upload_length} bytes).", code=Code.UPLOAD_TOO_LARGE
        )
    row = await uploads.append(row, offset, _body(request))
    headers = {"Upload-Offset": str(row.upload_offset), **_expiry(request, row)}
    if row.upload_offset == row.upload_length:
        job = await uploads.finish(row, caller)
        headers = {"Upload-Offset": str(row.upload_offset), "X-Job-Id": job.job_id, "Location": f"/status/{job.job_id}"}
    return web.Response(status=204, headers=headers)


async def delete(request: web.Request) -> web.Response:
    await request.app[keys.TUS].terminate(request.match_info["upload_id"], scope_of(request))
    return web.Response(status=204)


async def _body(request: web.Request) -> AsyncIterator[bytes]:
    """The PATCH body in chunks, under the idle and the whole-upload deadlines."""
    server = request.app[keys.SETTINGS]
    idle = server.limits.upload_idle_seconds or None
    loop = asyncio.get_running_loop()
    end = loop.time() + server.server.upload_timeout
    while True:
        try:
            async with asyncio.timeout(min(idle or 1e9, max(0.0, end - loop.time()))):
                chunk = await request.content.read(READ_CHUNK)
        except TimeoutError:
            raise UploadTimeout(
                "The PATCH stopped sending; resume from HEAD's Upload-Offset.", code=Code.UPLOAD_TIMEOUT
            ) from None
        if not chunk:
            return
        yield chunk


def parse_metadata(raw: str) -> tuple[dict[str, str], str | None]:
    """Upload-Metadata (`key base64,key base64`): the form's fields and the file name; 400 if bad."""
    fields: dict[str, str] = {}
    filename: str | None = None
    for pair in filter(None, (p.strip() for p in raw.split(","))):
        key, _, encoded = pair.partition(" ")
        value = _decode(key, encoded.strip())
        if key in fields or (key in FILENAME_KEYS and filename is not None):
            raise BadRequest(f"The metadata key {key[:64]!r} was sent twice.", code=Code.DUPLICATE_FIELD)
        if key in FILENAME_KEYS:
            filename = value[:255] or None
        elif key in TEXT_FIELDS:
            fields[key] = value
        elif key not in IGNORED_KEYS:
            known = ", ".join((*FILENAME_KEYS, *TEXT_FIELDS))
            raise BadRequest(f"Unknown metadata key {key[:64]!r}; known: {known}.", code=Code.UNKNOWN_FIELD)
    return fields, filename


def _decode(key: str, encoded: str) -> str:
    if not key or not key.isascii() or not key.isprintable():
        raise BadRequest("Upload-Metadata keys are ASCII names.", code=Code.INVALID_UPLOAD_METADATA)
    try:
        data = base64.b64decode(encoded, validate=True)
        if len(data) > MAX_VALUE_BYTES:
            raise BadRequest(f"The metadata value of {key!r} is too long.", code=invalid(key))
        return data.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise BadRequest(f"The metadata value of {key[:64]!r} is not base64 of UTF-8 text.",
                         code=Code.INVALID_UPLOAD_METADATA) from None  # fmt: skip


def _offset(value: str | None) -> int:
    if value is None or not value.isdigit() or len(value) > 19:
        raise BadRequest("Upload-Offset must be a non-negative integer.", code=Code.UPLOAD_OFFSET_MISMATCH)
    return int(value)


def _expiry(request: web.Request, row: TusRow) -> dict[str, Any]:
    return {"Upload-Expires": formatdate(request.app[keys.TUS].expires(row), usegmt=True)}
