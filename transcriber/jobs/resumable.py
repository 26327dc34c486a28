"""Resumable uploads (tus): admitted at creation, appended to durably, finished into a job, expired."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator

from transcriber.clock import epoch, utc_after
from transcriber.domain.job import Job
from transcriber.domain.options import check_job_id
from transcriber.errors import (
    BadRequest,
    Code,
    Conflict,
    InsufficientStorage,
    Locked,
    NotFound,
    PayloadTooLarge,
    ServiceError,
    TooManyRequests,
    Unavailable,
)
from transcriber.jobs import tus_files
from transcriber.jobs.admission import QUOTA_RETRY_AFTER, Admission, disk_full_error
from transcriber.jobs.outage import is_disk_full
from transcriber.jobs.owners import Caller
from transcriber.jobs.scheduler import Scheduler
from transcriber.jobs.service import JobService
from transcriber.jobs.upload_files import Upload, incoming_dir
from transcriber.settings import Settings
from transcriber.store import tus_rows
from transcriber.store.sqlite import Store
from transcriber.store.tus_rows import TusRow

log = logging.getLogger(__name__)
CHECKPOINT = 32 * 1024 * 1024  # a long PATCH makes its progress durable this often
RETRYABLE = (Unavailable, TooManyRequests, InsufficientStorage)  # the finished upload is kept for a retry


class ResumableUploads:
    """The tus upload store: a file per upload under uploads/.tus/ and a row holding its durable offset."""

    def __init__(self, settings: Settings, store: Store, service: JobService, admission: Admission, sched: Scheduler):
        self._settings = settings
        self._store = store
        self._service = service
        self._admission = admission
        self._scheduler = sched
        self._busy: set[str] = set()
        self.folder = tus_files.tus_dir(settings.data_dir)

    def expires(self, row: TusRow) -> float:
        """When the upload expires if nothing more arrives (epoch seconds)."""
        return epoch(row.updated_at) + self._settings.ingest.tus_expiry_seconds

    async def create(
        self, caller: Caller, length: int, fields: dict[str, str], filename: str | None, raw: str
    ) -> TusRow:
        """Admission as for /transcribe, from the declared length, before a byte is sent."""
        self._scheduler.admit()
        if length > self._settings.max_upload_bytes:
            message = f"The upload is larger than the limit of {self._settings.limits.max_upload_mb} MB."
            raise PayloadTooLarge(message, code=Code.UPLOAD_TOO_LARGE)
        count, promised = await tus_rows.outstanding(self._store, caller.key_id)
        cap = self._settings.limits.max_queued_per_key
        if caller.key_id is not None and cap and count >= cap:
            message = f"This API key already has {cap} unfinished uploads; finish or delete some."
            raise TooManyRequests(message, code=Code.TOO_MANY_QUEUED, retry_after=QUOTA_RETRY_AFTER)
        await self._admission.check(caller, length + promised)  # the disk must hold what others will send too
        await self._service.check_fields(fields)
        job_id = check_job_id(fields.get("job_id", "").strip() or uuid.uuid4().hex)  # fixed now: one job at most
        row = TusRow(uuid.uuid4().hex, caller.key_id, length, 0, job_id, filename, fields, raw, "")
        await asyncio.to_thread(tus_files.create_empty, self.folder / row.upload_id)
        await tus_rows.add(self._store, row)
        log.info("tus upload %s: created, %d bytes for job %s", row.upload_id, length, job_id)
        return await self.get(row.upload_id)

    async def get(self, upload_id: str, scope: str | None = None) -> TusRow:
        row = await tus_rows.get(self._store, upload_id) if _plausible(upload_id) else None
        if row is None or (scope is not None and row.owner != scope):
            raise NotFound(f"No upload with id {upload_id[:64]!r}.", code=Code.UPLOAD_NOT_FOUND)
        if epoch(row.updated_at) + self._settings.ingest.tus_expiry_seconds < time.time():
            await self._remove(upload_id)
            raise NotFound(f"The upload {upload_id!r} expired and was removed.", code=Code.UPLOAD_NOT_FOUND)
        return row

    async def append(self, row: TusRow, offset: int, body: AsyncIterator[bytes]) -> TusRow:
        """Write the PATCH body at `offset`; the offset moves only over bytes that reached the disk."""
        if row.upload_id in self._busy:
            raise Locked(f"The upload {row.upload_id!r} is receiving another PATCH.", code=Code.UPLOAD_LOCKED)
        if offset != row.upload_offset:
            message = f"Upload-Offset is {offset}, but the upload has {row.upload_offset} bytes."
            raise Conflict(message, code=Code.UPLOAD_OFFSET_MISMATCH)
        self._busy.add(row.upload_id)
        try:
            with self._admission.upload_slot():
                await self._write(row, body)
        finally:
            self._busy.discard(row.upload_id)
        return await self.get(row.upload_id)

    async def _write(self, row: TusRow, body: AsyncIterator[bytes]) -> None:
        path = self.folder / row.upload_id
        handle = await asyncio.to_thread(tus_files.open_at, path, row.upload_offset)  # drops bytes never acknowledged
        appender = tus_files.Appender(handle, row.upload_offset)
        received = row.upload_offset
        try:
            async for chunk in body:
                received += len(chunk)
                if received > row.upload_length:
                    message = f"The body goes past Upload-Length ({row.upload_length} bytes)."
                    raise PayloadTooLarge(message, code=Code.UPLOAD_TOO_LARGE)
                await appender.add(chunk)
                if appender.unsaved >= CHECKPOINT:
                    await self._checkpoint(appender, row.upload_id)
        except OSError as exc:
            if is_disk_full(exc):
                raise disk_full_error() from None
            raise
        finally:
            # Also when the client hangs up mid-body: what arrived is kept, and HEAD says so.
            await asyncio.shield(self._checkpoint(appender, row.upload_id, last=True))

    async def _checkpoint(self, appender: tus_files.Appender, upload_id: str, *, last: bool = False) -> None:
        offset = await asyncio.to_thread(appender.sync, last)
        await tus_rows.set_offset(self._store, upload_id, offset)

    async def finish(self, row: TusRow, caller: Caller) -> Job:
        """The last byte is in: the file becomes a job (as an upload would), then the upload goes."""
        path = self.folder / row.upload_id
        link = incoming_dir(self._settings.data_dir) / f"{uuid.uuid4().hex}.part"
        digest = await asyncio.to_thread(tus_files.link_and_hash, path, link)
        upload = Upload(link, row.upload_length, digest, row.filename, {**row.fields, "job_id": row.job_id})
        try:
            _, job = await self._service.submit(upload, caller)
        except ServiceError as exc:
            if not isinstance(exc, RETRYABLE):  # the bytes are no good as a job: nothing is kept
                await self._remove(row.upload_id)
            raise
        await self._remove(row.upload_id)
        return job

    async def terminate(self, upload_id: str, scope: str | None) -> None:
        row = await self.get(upload_id, scope)
        if row.upload_id in self._busy:
            raise Locked(f"The upload {upload_id!r} is receiving a PATCH.", code=Code.UPLOAD_LOCKED)
        await self._remove(upload_id)

    async def _remove(self, upload_id: str) -> None:
        await tus_rows.remove(self._store, upload_id)
        await asyncio.to_thread((self.folder / upload_id).unlink, missing_ok=True)

    async def expire(self) -> int:
        """Remove uploads untouched for tus_expiry_seconds, and files no row knows (a crash at creation)."""
        gone = 0
        for upload_id in await tus_rows.untouched_since(
            self._store, utc_after(-self._settings.ingest.tus_expiry_seconds)
        ):
            if upload_id not in self._busy:
                await self._remove(upload_id)
                gone += 1
        known = await tus_rows.all_ids(self._store)
        gone += await asyncio.to_thread(
            tus_files.sweep, self.folder, known | self._busy, self._settings.server.upload_timeout
        )
        if gone:
            log.info("removed %d expired or orphaned resumable uploads", gone)
        return gone


def parse_length(value: str | None) -> int:
    if value is None or not value.isdigit() or len(value) > 19:
        raise BadRequest("Upload-Length must be a non-negative integer.", code=Code.INVALID_UPLOAD_LENGTH)
    length = int(value)
    if length == 0:
        raise BadRequest("Upload-Length is 0: there is nothing to transcribe.", code=Code.EMPTY_FILE)
    return length


def _plausible(upload_id: str) -> bool:
    return len(upload_id) == 32 and all(c in "0123456789abcdef" for c in upload_id)
