"""Streaming multipart uploads to disk: byte limit, deadline, hashing, durable placement, cleanup."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import aiofiles
import aiofiles.os
from aiohttp import BodyPartReader, web

from transcriber.errors import BadRequest, PayloadTooLarge, ServiceError
from transcriber.options import TEXT_FIELDS
from transcriber.results import fsync_dir

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


class UploadTimeout(ServiceError):
    status, code = 408, "upload_timeout"


@dataclass
class Upload:
    """A received file in the incoming folder; remove() it unless it is placed."""

    path: Path
    size: int = 0
    sha256: str = ""
    filename: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    lists: dict[str, list[str]] = field(default_factory=dict)
    placed: bool = False

    async def remove(self) -> None:
        if self.placed:
            return
        with suppress(FileNotFoundError):
            await aiofiles.os.remove(self.path)


def incoming_dir(data_dir: Path) -> Path:
    return data_dir / "uploads" / ".incoming"


async def receive(
    request: web.Request, data_dir: Path, max_bytes: int, timeout: float, form: FormFields = JOB_FORM
) -> Upload:
    """Stream the multipart body: the file to disk (never whole in memory), fields to a dict."""
    if not request.content_type.startswith("multipart/"):
        raise BadRequest("Send the audio as multipart/form-data with a 'file' field.", code="invalid_multipart")
    if request.content_length is not None and request.content_length > max_bytes + MAX_FORM_OVERHEAD:
        raise PayloadTooLarge(_too_large(max_bytes), code="upload_too_large")  # say so before reading it
    upload = Upload(incoming_dir(data_dir) / f"{uuid.uuid4().hex}.part")
    try:
        async with asyncio.timeout(timeout):
            await _read_parts(request, upload, max_bytes, form)
    except TimeoutError:
        await upload.remove()
        raise UploadTimeout(f"The upload did not finish within {timeout:.0f} seconds.") from None
    except BaseException:
        await upload.remove()
        raise
    if not upload.sha256:
        raise BadRequest("The form has no 'file' field.", code="missing_file")
    return upload


async def _read_parts(request: web.Request, upload: Upload, max_bytes: int, form: FormFields) -> None:
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise BadRequest("Nested multipart bodies are not accepted.", code="invalid_multipart")
            await _read_part(part, upload, max_bytes, form)
    except (ValueError, AssertionError, KeyError) as exc:
        raise BadRequest(
            f"Malformed multipart body: {str(exc)[:200] or type(exc).__name__}.", code="invalid_multipart"
        ) from exc


async def _read_part(part: BodyPartReader, upload: Upload, max_bytes: int, form: FormFields) -> None:
    name = part.name or ""
    if name == "file":
        if upload.sha256:
            raise BadRequest("Send exactly one 'file' field.", code="multiple_files")
        upload.filename = (part.filename or "")[:255] or None
        await _stream_file(part, upload, max_bytes)
    elif name in form.text:
        if name in upload.fields:
            raise BadRequest(f"The field {name!r} was sent twice.", code="duplicate_field")
        upload.fields[name] = await _read_field(part, name)
    elif name in form.repeated:
        values = upload.lists.setdefault(name, [])
        if len(values) >= MAX_REPEATS:
            raise BadRequest(f"The field {name!r} was sent too many times.", code="duplicate_field")
        values.append(await _read_field(part, name))
    else:
        known = ", ".join(("file", *form.text, *form.repeated))
        raise BadRequest(f"Unknown form field {name[:64]!r}; known: {known}.", code="unknown_field")


async def _read_field(part: BodyPartReader, name: str) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(MAX_FIELD_BYTES):
        data += chunk
        if len(data) > MAX_FIELD_BYTES:
            raise BadRequest(f"The field {name!r} is too long.", code=f"invalid_{name}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest(f"The field {name!r} is not UTF-8 text.", code=f"invalid_{name}") from None


async def _stream_file(part: BodyPartReader, upload: Upload, max_bytes: int) -> None:
    await aiofiles.os.makedirs(upload.path.parent, exist_ok=True)
    digest = hashlib.sha256()
    buffer = bytearray()
    async with aiofiles.open(upload.path, "wb") as fh:
        while chunk := await part.read_chunk(READ_CHUNK):
            upload.size += len(chunk)
            if upload.size > max_bytes:
                raise PayloadTooLarge(_too_large(max_bytes), code="upload_too_large")
            buffer += chunk
            if len(buffer) >= WRITE_BLOCK:
                await _flush(fh, digest, buffer)
        await _flush(fh, digest, buffer)
    if upload.size == 0:
        raise BadRequest("The 'file' field is empty.", code="empty_file")
    upload.sha256 = digest.hexdigest()


async def _flush(fh: aiofiles.threadpool.binary.AsyncBufferedIOBase, digest: hashlib._Hash, buffer: bytearray) -> None:
    if buffer:
        block = bytes(buffer)
        buffer.clear()
        await asyncio.to_thread(digest.update, block)  # hashlib releases the GIL on big blocks
        await fh.write(block)


def _too_large(max_bytes: int) -> str:
    return f"The upload is larger than the limit of {max_bytes // (1024 * 1024)} MB."


def place(upload: Upload, data_dir: Path, job_id: str) -> str:
    """fsync the file and move it under uploads/; returns its path relative to data_dir.

    Blocking (fsync), so callers run it in a thread. A per-attempt suffix means a concurrent
    upload with the same job_id can never overwrite this one's file.
    """
    name = f"{job_id}.{uuid.uuid4().hex[:8]}"
    target = data_dir / "uploads" / name
    with upload.path.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(upload.path, target)
    fsync_dir(target.parent)
    upload.path, upload.placed = target, True
    return f"uploads/{name}"


def sweep(data_dir: Path, known: set[str]) -> int:
    """At start-up: drop partial uploads and files no job row refers to (a crash mid-accept)."""
    removed = 0
    folder = data_dir / "uploads"
    for path in [*incoming_dir(data_dir).glob("*.part"), *folder.glob("*")]:
        if path.is_file() and f"uploads/{path.name}" not in known:
            path.unlink(missing_ok=True)
            removed += 1
    return removed
