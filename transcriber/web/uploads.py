"""Streaming multipart uploads to disk: byte limit, deadline, hashing, durable placement, cleanup."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path

from aiohttp import BodyPartReader, hdrs, web
from aiohttp.http_exceptions import HttpProcessingError

from transcriber.domain.options import TEXT_FIELDS
from transcriber.errors import BadRequest, ClientClosed, Code, PayloadTooLarge, UnsupportedMedia, invalid
from transcriber.jobs.admission import disk_full_error
from transcriber.jobs.outage import is_disk_full
from transcriber.jobs.upload_files import Spool, Upload, incoming_dir
from transcriber.web.middlewares import client_gone
from transcriber.web.upload_pace import Deadline, Pace, UploadTooSlow

log = logging.getLogger(__name__)
READ_CHUNK = 256 * 1024
MAX_FIELD_BYTES = 8192
MAX_FORM_OVERHEAD = 64 * 1024  # boundaries and the small text fields around the file
MAX_REPEATS = 16
MAX_LARGE_FIELD_BYTES = 2 * 1024 * 1024  # a `large` field: a short audio clip as a data URL


@dataclass(frozen=True)
class FormFields:
    """The fields a multipart route accepts besides 'file'; `repeated` ones may come several times."""

    text: tuple[str, ...] = TEXT_FIELDS
    repeated: tuple[str, ...] = ()
    large: tuple[str, ...] = ()  # repeated fields that may hold up to MAX_LARGE_FIELD_BYTES each


URL_FIELD = "url"  # instead of 'file': the server fetches the recording (web/url_fetch.py)
JOB_FORM = FormFields(text=(*TEXT_FIELDS, URL_FIELD))


async def receive(
    request: web.Request,
    data_dir: Path,
    max_bytes: int,
    pace: Pace,
    *,
    form: FormFields = JOB_FORM,
) -> Upload:
    """Stream the multipart body: the file to disk (never whole in memory), fields to a dict.

    The whole upload has `pace.timeout` seconds; a client that sends nothing for `pace.idle`
    seconds, or less than `pace.min_rate` bytes a second over `pace.window`, is cut off sooner.
    Either way the partial file is removed.
    """
    check_headers(request, max_bytes)
    upload = Upload(incoming_dir(data_dir) / f"{uuid.uuid4().hex}.part")
    deadline: Deadline | None = None
    try:
        async with asyncio.timeout(pace.timeout) as timer:
            deadline = Deadline(timer, pace)
            await _read_parts(request, upload, max_bytes, deadline, form)
    except UploadTooSlow as exc:
        await upload.remove()
        _log_too_slow(request, upload)
        raise exc from None
    except TimeoutError:
        await upload.remove()
        if deadline is None:
            raise
        error = deadline.expired()
        if isinstance(error, UploadTooSlow):
            _log_too_slow(request, upload)
        raise error from None
    except OSError as exc:
        await upload.remove()
        if is_disk_full(exc):
            raise disk_full_error() from None
        if client_gone(request):
            raise _client_left(request) from None
        raise
    except asyncio.CancelledError:
        await upload.remove()
        if client_gone(request):
            _client_left(request)  # counted as 499 by the metrics middleware
        raise
    except BaseException:
        await upload.remove()
        raise
    await _check_source(upload, form)
    return upload


async def _check_source(upload: Upload, form: FormFields) -> None:
    """Exactly one source: the file, or (where the form takes one) a URL to fetch."""
    if upload.digest and URL_FIELD in upload.fields:
        await upload.remove()
        raise BadRequest("Send either 'file' or 'url', not both.", code=Code.MULTIPLE_FILES)
    if not upload.digest and URL_FIELD not in form.text:
        raise BadRequest("The form has no 'file' field.", code=Code.MISSING_FILE)
    if not upload.digest and URL_FIELD not in upload.fields:
        raise BadRequest("The form has no 'file' field (or 'url').", code=Code.MISSING_FILE)


def _log_too_slow(request: web.Request, upload: Upload) -> None:
    log.info("%s %s: upload too slow, cut off after %d bytes", request.method, request.path, upload.size)


def _client_left(request: web.Request) -> ClientClosed:
    """One INFO line (security.md promises one), and the error that counts the request as 499."""
    log.info("%s %s: the client left mid-upload; its partial file was removed", request.method, request.path)
    return ClientClosed("The client closed the connection before the upload ended.", code=Code.CLIENT_CLOSED)


def check_headers(request: web.Request, max_bytes: int) -> None:
    """400/415/413 from the headers alone, before anything is read or the disk is asked."""
    # The raw header, not request.content_type: aiohttp parses that with the email package, a
    # measurable share of a small upload's accept path; the multipart reader checks it fully.
    if not request.headers.get(hdrs.CONTENT_TYPE, "").lstrip().lower().startswith("multipart/"):
        raise BadRequest("Send the audio as multipart/form-data with a 'file' field.", code=Code.INVALID_MULTIPART)
    encoding = request.headers.get(hdrs.CONTENT_ENCODING, "identity").strip().lower()
    if encoding != "identity":  # aiohttp would inflate it: a small body could become a huge file
        message = f"Content-Encoding {encoding[:32]!r} is not accepted; send the body uncompressed."
        raise UnsupportedMedia(message, code=Code.UNSUPPORTED_ENCODING)
    if request.content_length is not None and request.content_length > max_bytes + MAX_FORM_OVERHEAD:
        raise PayloadTooLarge(_too_large(max_bytes), code=Code.UPLOAD_TOO_LARGE)  # say so before reading it


async def _read_parts(
    request: web.Request, upload: Upload, max_bytes: int, deadline: Deadline, form: FormFields
) -> None:
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise BadRequest("Nested multipart bodies are not accepted.", code=Code.INVALID_MULTIPART)
            deadline.touch()
            await _read_part(part, upload, max_bytes, deadline, form)
    except (ValueError, AssertionError, KeyError, HttpProcessingError) as exc:  # LineTooLong, BadHttpMessage
        raise BadRequest(
            f"Malformed multipart body: {str(exc)[:200] or type(exc).__name__}.", code=Code.INVALID_MULTIPART
        ) from exc


async def _read_part(
    part: BodyPartReader, upload: Upload, max_bytes: int, deadline: Deadline, form: FormFields
) -> None:
    name = part.name or ""
    if name == "file":
        if upload.digest:
            raise BadRequest("Send exactly one 'file' field.", code=Code.MULTIPLE_FILES)
        upload.filename = (part.filename or "")[:255] or None
        await _stream_file(part, upload, max_bytes, deadline)
    elif name in form.text:
        if name in upload.fields:
            raise BadRequest(f"The field {name!r} was sent twice.", code=Code.DUPLICATE_FIELD)
        upload.fields[name] = await _read_field(part, name, deadline)
    elif name in form.repeated:
        values = upload.lists.setdefault(name, [])
        if len(values) >= MAX_REPEATS:
            raise BadRequest(f"The field {name!r} was sent too many times.", code=Code.DUPLICATE_FIELD)
        limit = MAX_LARGE_FIELD_BYTES if name in form.large else MAX_FIELD_BYTES
        values.append(await _read_field(part, name, deadline, limit))
    else:
        known = ", ".join(("file", *form.text, *form.repeated))
        raise BadRequest(f"Unknown form field {name[:64]!r}; known: {known}.", code=Code.UNKNOWN_FIELD)


async def _read_field(part: BodyPartReader, name: str, deadline: Deadline, limit: int = MAX_FIELD_BYTES) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(MAX_FIELD_BYTES):
        deadline.touch()
        data += chunk
        if len(data) > limit:
            raise BadRequest(f"The field {name!r} is too long.", code=invalid(name))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest(f"The field {name!r} is not UTF-8 text.", code=invalid(name)) from None


async def _stream_file(part: BodyPartReader, upload: Upload, max_bytes: int, deadline: Deadline) -> None:
    spool = Spool(upload.path)
    await spool.open()
    try:
        while chunk := await part.read_chunk(READ_CHUNK):
            deadline.touch(len(chunk))
            upload.size += len(chunk)
            if upload.size > max_bytes:
                raise PayloadTooLarge(_too_large(max_bytes), code=Code.UPLOAD_TOO_LARGE)
            await spool.add(chunk)
        upload.digest = await spool.finish()
    except BaseException:
        await spool.discard()  # after the block being written, so no write can recreate the file
        raise
    if upload.size == 0:
        raise BadRequest("The 'file' field is empty.", code=Code.EMPTY_FILE)


def _too_large(max_bytes: int) -> str:
    return f"The upload is larger than the limit of {max_bytes // (1024 * 1024)} MB."
