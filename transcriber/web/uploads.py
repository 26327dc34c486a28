"""Streaming multipart uploads to disk: byte limit, deadline, hashing, durable placement, cleanup."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from pathlib import Path

from aiohttp import BodyPartReader, hdrs, web
from aiohttp.http_exceptions import HttpProcessingError

from transcriber.domain.options import TEXT_FIELDS
from transcriber.errors import BadRequest, Code, PayloadTooLarge, UnsupportedMedia, UploadTimeout, invalid
from transcriber.jobs.admission import disk_full_error, is_disk_full
from transcriber.jobs.upload_files import Spool, Upload, incoming_dir

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


JOB_FORM = FormFields()


async def receive(
    request: web.Request,
    data_dir: Path,
    max_bytes: int,
    timeout: float,
    *,
    idle_timeout: float = 0.0,
    form: FormFields = JOB_FORM,
) -> Upload:
    """Stream the multipart body: the file to disk (never whole in memory), fields to a dict.

    The whole upload has `timeout` seconds; a client that sends nothing for `idle_timeout`
    seconds (0: no idle limit) is cut off sooner. Either way the partial file is removed.
    """
    _check_headers(request, max_bytes)
    upload = Upload(incoming_dir(data_dir) / f"{uuid.uuid4().hex}.part")
    try:
        async with asyncio.timeout(timeout) as deadline:
            await _read_parts(request, upload, max_bytes, Deadline(deadline, idle_timeout), form)
    except TimeoutError:
        await upload.remove()
        raise UploadTimeout(_timed_out(timeout, idle_timeout), code=Code.UPLOAD_TIMEOUT) from None
    except OSError as exc:
        await upload.remove()
        if is_disk_full(exc):
            raise disk_full_error() from None
        raise
    except BaseException:
        await upload.remove()
        raise
    if not upload.digest:
        raise BadRequest("The form has no 'file' field.", code=Code.MISSING_FILE)
    return upload


def _check_headers(request: web.Request, max_bytes: int) -> None:
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


class Deadline:
    """The whole-upload deadline, pulled in to `idle` seconds from the last data received."""

    def __init__(self, timeout: asyncio.Timeout, idle: float):
        self._timeout = timeout
        self._end = timeout.when()
        self._idle = idle
        self.touch()

    def touch(self) -> None:
        if self._idle > 0:
            soon = asyncio.get_running_loop().time() + self._idle
            self._timeout.reschedule(soon if self._end is None else min(self._end, soon))


def _timed_out(timeout: float, idle: float) -> str:
    return (
        f"The upload did not finish within {timeout:.0f} seconds, or sent nothing for {idle:.0f} seconds."
        if idle > 0
        else f"The upload did not finish within {timeout:.0f} seconds."
    )


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
            deadline.touch()
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
