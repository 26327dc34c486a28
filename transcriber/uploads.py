"""Streaming multipart uploads to disk: byte limit, deadline, hashing, durable placement, cleanup."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path

import aiofiles
import aiofiles.os
from aiohttp import BodyPartReader, web

from transcriber.errors import BadRequest, Code, PayloadTooLarge, UploadTimeout, invalid
from transcriber.options import TEXT_FIELDS
from transcriber.upload_files import Upload, incoming_dir

READ_CHUNK = 256 * 1024
WRITE_BLOCK = 1024 * 1024
MAX_FIELD_BYTES = 8192
MAX_FORM_OVERHEAD = 64 * 1024  # boundaries and the small text fields around the file
MAX_REPEATS = 16


@dataclass(frozen=True)
class FormFields:
    """The fields a multipart route accepts besides 'file'; `repeated` ones may come several times."""

    text: tuple[str, ...] = TEXT_FIELDS
    repeated: tuple[str, ...] = ()


JOB_FORM = FormFields()


async def receive(
    request: web.Request, data_dir: Path, max_bytes: int, timeout: float, form: FormFields = JOB_FORM
) -> Upload:
    """Stream the multipart body: the file to disk (never whole in memory), fields to a dict."""
    if not request.content_type.startswith("multipart/"):
        raise BadRequest("Send the audio as multipart/form-data with a 'file' field.", code=Code.INVALID_MULTIPART)
    if request.content_length is not None and request.content_length > max_bytes + MAX_FORM_OVERHEAD:
        raise PayloadTooLarge(_too_large(max_bytes), code=Code.UPLOAD_TOO_LARGE)  # say so before reading it
    upload = Upload(incoming_dir(data_dir) / f"{uuid.uuid4().hex}.part")
    try:
        async with asyncio.timeout(timeout):
            await _read_parts(request, upload, max_bytes, form)
    except TimeoutError:
        await upload.remove()
        raise UploadTimeout(
            f"The upload did not finish within {timeout:.0f} seconds.", code=Code.UPLOAD_TIMEOUT
        ) from None
    except BaseException:
        await upload.remove()
        raise
    if not upload.sha256:
        raise BadRequest("The form has no 'file' field.", code=Code.MISSING_FILE)
    return upload


async def _read_parts(request: web.Request, upload: Upload, max_bytes: int, form: FormFields) -> None:
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise BadRequest("Nested multipart bodies are not accepted.", code=Code.INVALID_MULTIPART)
            await _read_part(part, upload, max_bytes, form)
    except (ValueError, AssertionError, KeyError) as exc:
        raise BadRequest(
            f"Malformed multipart body: {str(exc)[:200] or type(exc).__name__}.", code=Code.INVALID_MULTIPART
        ) from exc


async def _read_part(part: BodyPartReader, upload: Upload, max_bytes: int, form: FormFields) -> None:
    name = part.name or ""
    if name == "file":
        if upload.sha256:
            raise BadRequest("Send exactly one 'file' field.", code=Code.MULTIPLE_FILES)
        upload.filename = (part.filename or "")[:255] or None
        await _stream_file(part, upload, max_bytes)
    elif name in form.text:
        if name in upload.fields:
            raise BadRequest(f"The field {name!r} was sent twice.", code=Code.DUPLICATE_FIELD)
        upload.fields[name] = await _read_field(part, name)
    elif name in form.repeated:
        values = upload.lists.setdefault(name, [])
        if len(values) >= MAX_REPEATS:
            raise BadRequest(f"The field {name!r} was sent too many times.", code=Code.DUPLICATE_FIELD)
        values.append(await _read_field(part, name))
    else:
        known = ", ".join(("file", *form.text, *form.repeated))
        raise BadRequest(f"Unknown form field {name[:64]!r}; known: {known}.", code=Code.UNKNOWN_FIELD)


async def _read_field(part: BodyPartReader, name: str) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(MAX_FIELD_BYTES):
        data += chunk
        if len(data) > MAX_FIELD_BYTES:
            raise BadRequest(f"The field {name!r} is too long.", code=invalid(name))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest(f"The field {name!r} is not UTF-8 text.", code=invalid(name)) from None


async def _stream_file(part: BodyPartReader, upload: Upload, max_bytes: int) -> None:
    await aiofiles.os.makedirs(upload.path.parent, exist_ok=True)
    digest = hashlib.sha256()
    buffer = bytearray()
    async with aiofiles.open(upload.path, "wb") as fh:
        while chunk := await part.read_chunk(READ_CHUNK):
            upload.size += len(chunk)
            if upload.size > max_bytes:
                raise PayloadTooLarge(_too_large(max_bytes), code=Code.UPLOAD_TOO_LARGE)
            buffer += chunk
            if len(buffer) >= WRITE_BLOCK:
                await _flush(fh, digest, buffer)
        await _flush(fh, digest, buffer)
    if upload.size == 0:
        raise BadRequest("The 'file' field is empty.", code=Code.EMPTY_FILE)
    upload.sha256 = digest.hexdigest()


async def _flush(fh: aiofiles.threadpool.binary.AsyncBufferedIOBase, digest: hashlib._Hash, buffer: bytearray) -> None:
    if buffer:
        block = bytes(buffer)
        buffer.clear()
        await asyncio.to_thread(digest.update, block)  # hashlib releases the GIL on big blocks
        await fh.write(block)


def _too_large(max_bytes: int) -> str:
    return f"The upload is larger than the limit of {max_bytes // (1024 * 1024)} MB."
