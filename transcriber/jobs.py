"""The job service: accept an upload, report status, list, cancel and delete jobs."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import uuid
from datetime import datetime
from typing import Any

from transcriber import audio, outbox, uploads
from transcriber.errors import BadRequest, Conflict, NotFound, PayloadTooLarge, UnsupportedMedia
from transcriber.metrics import Metrics
from transcriber.options import check_job_id, parse_options
from transcriber.results import FORMATS, remove_results
from transcriber.scheduler import Scheduler
from transcriber.settings import Settings
from transcriber.speakers import check_channels
from transcriber.store import ACTIVE, Row, Store

log = logging.getLogger(__name__)
STATUSES = ("queued", "running", "completed", "failed", "cancelled")
MAX_PAGE = 500
DEFAULT_PAGE = 50


class JobService:
    """Business rules between the HTTP handlers and the store/scheduler."""

    def __init__(self, settings: Settings, store: Store, scheduler: Scheduler, metrics: Metrics):
        self._settings = settings
        self._store = store
        self._scheduler = scheduler
        self._metrics = metrics

    async def submit(self, upload: uploads.Upload) -> tuple[bool, Row]:
        """(created, row): a new job, or the existing one when the same bytes come again."""
        try:
            return await self._submit(upload)
        finally:
            await upload.remove()  # a no-op once the file has been placed

    async def _submit(self, upload: uploads.Upload) -> tuple[bool, Row]:
        job_id = check_job_id(upload.fields.get("job_id", "").strip() or uuid.uuid4().hex)
        engine = self._scheduler.engine
        options = parse_options(upload.fields, multilingual=bool(engine and engine.info.multilingual))
        existing = await self._existing(job_id, upload.sha256)
        if existing is not None:
            return False, existing
        info = await self._probe(upload)
        check_channels(options, info.channels)
        self._scheduler.admit(info.duration)
        upload_path = await asyncio.to_thread(uploads.place, upload, self._settings.data_dir, job_id)
        row = {
            "job_id": job_id, "status": "queued", "duration": round(info.duration, 3),
            "options": options.to_dict(), "upload_path": upload_path, "upload_bytes": upload.size,
            "upload_sha256": upload.sha256, "upload_filename": upload.filename,
            "upload_format": f"{info.format}/{info.codec}",
        }  # fmt: skip
        try:
            await self._store.insert_job(row)
        except sqlite3.IntegrityError:  # the same id committed by a concurrent request
            again = await self._existing(job_id, upload.sha256)
            if again is None:
                raise
            return False, again
        self._scheduler.enqueue(job_id, info.duration)
        self._metrics.jobs.labels("accepted").inc()
        log.info(
            "job %s: accepted %d bytes, %.1f s of %s",
            job_id,
            upload.size,
            info.duration,
            row["upload_format"],
            extra={"job_id": job_id},
        )
        return True, await self.get(job_id)

    async def _existing(self, job_id: str, sha256: str) -> Row | None:
        row = await self._store.get_job(job_id)
        if row is None:
            return None
        if row["upload_sha256"] != sha256:
            raise Conflict(f"job_id {job_id!r} is already used for a different file.", code="job_id_conflict")
        return row

    async def _probe(self, upload: uploads.Upload) -> audio.AudioInfo:
        limit = self._settings.limits.max_audio_seconds
        try:
            info = await asyncio.to_thread(audio.probe, upload.path, limit)
        except audio.NotAudio as exc:
            raise UnsupportedMedia(f"The upload is not decodable audio: {exc}.", code="not_audio") from None
        if info.duration > limit:
            raise PayloadTooLarge(
                f"The audio is {info.duration:.0f} s long; the limit is {limit:.0f} s.", code="audio_too_long"
            )
        return info

    async def get(self, job_id: str) -> Row:
        row = await self._store.get_job(job_id)
        if row is None:
            raise NotFound(f"No job with id {job_id!r}.", code="job_not_found")
        return row

    async def cancel(self, job_id: str) -> Row:
        row = await self.get(job_id)
        if row["status"] not in ACTIVE or not await self._scheduler.cancel(job_id):
            raise Conflict(f"Job {job_id!r} is {row['status']} and cannot be cancelled.", code="job_not_active")
        return await self.get(job_id)

    async def resummarize(self, job_id: str) -> Row:
        """Ask for a new summary (say, after changing the backend)."""
        row = await self.get(job_id)
        if not self._settings.summarizer.enabled:
            raise Conflict("Summaries are disabled in this server's configuration.", code="summaries_disabled")
        if not await outbox.request(self._store, job_id):
            raise Conflict(
                f"Job {job_id!r} is {row['status']}; only completed jobs can be summarized.", code="job_not_completed"
            )
        log.info("job %s: new summary requested", job_id, extra={"job_id": job_id})
        return await self.get(job_id)

    async def delete(self, job_id: str) -> None:
        row = await self.get(job_id)
        if row["status"] in ACTIVE or not await self._store.delete_job(job_id):
            raise Conflict(f"Job {job_id!r} is {row['status']}; cancel it before deleting.", code="job_active")
        await asyncio.to_thread(remove_results, self._settings.data_dir, job_id)
        if row["upload_path"]:
            (self._settings.data_dir / row["upload_path"]).unlink(missing_ok=True)
        log.info("job %s: deleted", job_id, extra={"job_id": job_id})

    async def history(self, status: str | None, limit: str | None, before: str | None) -> list[Row]:
        if status and status not in STATUSES:
            raise BadRequest(f"status must be one of {', '.join(STATUSES)}.", code="invalid_status")
        count = _limit(limit)
        cursor = await self._cursor(before) if before else None
        return await self._store.list_jobs(status or None, count, cursor)

    async def _cursor(self, before: str) -> Row:
        """`before` is a job id (the last one of the previous page) or an ISO timestamp."""
        row = await self._store.get_job(before)
        if row is not None:
            return row
        try:
            datetime.fromisoformat(before.replace("Z", "+00:00"))
        except ValueError:
            raise BadRequest("before must be a job id or an ISO 8601 time.", code="invalid_before") from None
        return {"created_at": before, "job_id": ""}

    def status_body(self, row: Row) -> dict[str, Any]:
        """The /status/{job_id} document: the row, overlaid with live progress while running."""
        job_id, status = row["job_id"], row["status"]
        run = self._scheduler.running.get(job_id)
        text = row["text"]
        progress = row["progress"]
        language = row["language"]
        languages = [x for x in (row.get("languages") or language or "").split(",") if x]
        if status == "running" and run is not None:
            text, progress, language = " ".join(t for t in run.texts if t), run.progress, run.language or language
            languages = list(run.languages)
        eta = self._scheduler.eta(row) if status in ACTIVE else None
        return {
            "job_id": job_id, "status": status, "progress": round(progress, 4),
            "eta_seconds": None if eta is None else round(eta, 1),
            "queue_position": self._scheduler.queue.position(job_id) if status == "queued" else None,
            "created_at": row["created_at"], "started_at": row["started_at"],
            "finished_at": row["finished_at"], "language": language, "languages": languages,
            "language_probability": row["language_probability"], "duration": row["duration"],
            "text": text, "attempts": row["attempts"],
            "error": {"code": row["error_code"], "message": row["error_message"]} if row["error_code"] else None,
            "results": {f: f"/jobs/{job_id}/transcript.{f}" for f in FORMATS} if status == "completed" else None,
            "summary": {"status": row["summary_status"], "text": row["summary_text"],
                        "error": row["summary_error"]},
            "options": json.loads(row["options"] or "{}"),
        }  # fmt: skip


def _limit(value: str | None) -> int:
    if value is None or value == "":
        return DEFAULT_PAGE
    if not value.isdigit() or not 1 <= int(value) <= MAX_PAGE:
        raise BadRequest(f"limit must be an integer from 1 to {MAX_PAGE}.", code="invalid_limit")
    return int(value)
