"""The job service: accept an upload, report status, list, cancel and delete jobs."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from transcriber.clock import is_iso
from transcriber.domain.job import Job, JobStatus, NewJob
from transcriber.domain.options import check_job_id, parse_options
from transcriber.domain.speakers import check_channels
from transcriber.errors import BadRequest, Code, Conflict, NotFound, PayloadTooLarge, UnsupportedMedia
from transcriber.events.changes import ChangeFeed
from transcriber.jobs import retention, upload_files
from transcriber.jobs.owners import OPEN, Caller
from transcriber.jobs.reservation import Reservation
from transcriber.jobs.scheduler import Scheduler
from transcriber.jobs.scheduler_views import LiveJob
from transcriber.jobs.status import Live, status_body
from transcriber.metrics import Metrics
from transcriber.notify.urlguard import check_callback_url
from transcriber.outputs.results import remove_results
from transcriber.settings import Settings
from transcriber.speech import audio
from transcriber.speech.loader import EngineLoader
from transcriber.store.sqlite import Store
from transcriber.store.types import DuplicateJob

log = logging.getLogger(__name__)
MAX_PAGE = 500
DEFAULT_PAGE = 50


class JobService:
    """Business rules between the HTTP handlers and the store/scheduler."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        scheduler: Scheduler,
        loader: EngineLoader,
        metrics: Metrics,
        changes: ChangeFeed,
    ):
        self._settings = settings
        self._store = store
        self._scheduler = scheduler
        self._loader = loader
        self._metrics = metrics
        self._changes = changes

    async def submit(self, upload: upload_files.Upload, caller: Caller = OPEN) -> tuple[bool, Job]:
        """(created, job): a new job, or the existing one when the same bytes come again."""
        try:
            return await self._submit(upload, caller)
        finally:
            await upload.remove()  # a no-op once the file has been placed

    async def check_fields(self, fields: dict[str, str]) -> None:
        """The form's checks before any audio arrives (a URL to fetch, a tus upload): 400 if refused."""
        if fields.get("job_id", "").strip():
            check_job_id(fields["job_id"].strip())
        info = self._loader.info()
        parse_options(fields, languages=info.languages if info else (), multilingual=bool(info and info.multilingual))
        await check_callback_url(fields.get("callback_url"), allow_private=self._settings.webhooks.allow_private)

    async def _submit(self, upload: upload_files.Upload, caller: Caller) -> tuple[bool, Job]:
        given = upload.fields.get("job_id", "").strip()
        job_id = check_job_id(given or uuid.uuid4().hex)
        model = self._model(upload.fields.get("model", "").strip())
        info, models = self._loader.info(), self._scheduler.models
        # Every Whisper tokenizer knows the same languages; whether the model is multilingual is its own.
        multilingual = models.multilingual(model) if model else bool(info and info.multilingual)
        options = parse_options(upload.fields, languages=info.languages if info else (), multilingual=multilingual)
        hooks = self._settings.webhooks
        callback_url = await check_callback_url(upload.fields.get("callback_url"), allow_private=hooks.allow_private)
        existing = await self._existing(job_id, upload.digest, caller.scope) if given else None  # a uuid4 is new
        if existing is not None:
            return False, existing
        probed = await self._probe(upload)
        check_channels(options, probed.channels)
        with self._scheduler.reserve(probed.duration) as slot:  # a hard capacity: held across the awaits
            upload_path = await asyncio.to_thread(upload_files.place, upload, self._settings.data_dir, job_id)
            job = NewJob(
                job_id=job_id,
                duration=round(probed.duration, 3),
                options=options.to_dict() | ({"model": model} if model else {}),
                upload_path=upload_path,
                upload_bytes=upload.size,
                upload_digest=upload.digest,
                upload_filename=upload.filename,
                upload_format=f"{probed.format}/{probed.codec}",
                callback_url=callback_url,
                owner=caller.key_id,
                model=model or self._scheduler.models.default_name,
            )
            try:
                await self._store.insert_job(job)
            except Exception as exc:  # not committed: the placed file is ours to remove (submit does)
                upload.placed = False
                if not isinstance(exc, DuplicateJob):
                    raise
                again = await self._existing(job_id, upload.digest, caller.scope)  # a concurrent request won
                if again is None:
                    raise
                return False, again
            self._accepted(job, slot)
        return True, await self.get(job_id)

    def _model(self, requested: str) -> str | None:
        """None for the default model, else the further model the request names."""
        models = self._scheduler.models
        if not requested or requested == models.default_name:
            return None
        if requested not in models.names():
            message = f"model {requested[:100]!r} is not one of this server's: {', '.join(models.names())}."
            raise BadRequest(message, code=Code.UNKNOWN_MODEL)
        return requested

    def _accepted(self, job: NewJob, slot: Reservation) -> None:
        # The change first: live events render `queued` before a free worker can claim the job.
        self._changes.job_changed(job.job_id)
        self._scheduler.models.prefetch(job.options.get("model"))
        slot.enqueue(job.job_id, job.duration)
        self._metrics.jobs.labels("accepted").inc()
        what = f"{job.upload_bytes} bytes, {job.duration:.1f} s of {job.upload_format}"
        log.info("job %s: accepted %s", job.job_id, what, extra={"job_id": job.job_id})

    async def _existing(self, job_id: str, digest: str, scope: str | None) -> Job | None:
        job = await self._store.get_job(job_id)
        if job is None:
            return None
        # Another key's job: the id is taken, but nothing about that job is shown.
        if job.upload_digest != digest or (scope is not None and job.owner != scope):
            raise Conflict(f"job_id {job_id!r} is already used for a different file.", code=Code.JOB_ID_CONFLICT)
        return job

    async def _probe(self, upload: upload_files.Upload) -> audio.AudioInfo:
        limit = self._settings.limits.max_audio_seconds
        try:
            info = await asyncio.to_thread(audio.probe, upload.path, limit)
        except audio.NotAudio as exc:
            raise UnsupportedMedia(f"The upload is not decodable audio: {exc}.", code=Code.NOT_AUDIO) from None
        if info.duration > limit:
            message = f"The audio is {info.duration:.0f} s long; the limit is {limit:.0f} s."
            raise PayloadTooLarge(message, code=Code.AUDIO_TOO_LONG)
        return info

    async def find(self, job_id: str) -> Job | None:
        """The job with this id, or None (for the server's own callers, such as the watch folder)."""
        return await self._store.get_job(job_id)

    async def get(self, job_id: str, scope: str | None = None) -> Job:
        """The job, if the caller's scope (its key id under isolate_keys) may see it; else 404."""
        job = await self._store.get_job(job_id)
        if job is None or (scope is not None and job.owner != scope):
            raise NotFound(f"No job with id {job_id!r}.", code=Code.JOB_NOT_FOUND)
        return job

    async def status_document(self, job_id: str, scope: str | None = None) -> dict[str, Any]:
        return self.document(await self.get(job_id, scope))

    def document(self, job: Job) -> dict[str, Any]:
        """The /status body: the stored job with the scheduler's live view on top."""
        if not job.status.active:
            return status_body(job, Live())
        live = self._scheduler.live(job.job_id)
        if live is None and job.status == JobStatus.RUNNING:  # another server runs it: its last write
            live = LiveJob(job.progress, job.partial_text or "", job.language, (job.language,) if job.language else ())
        return status_body(
            job,
            Live(
                progress=live.progress if live else None,
                text=live.text if live else None,
                language=live.language if live else None,
                languages=live.languages if live else (),
                eta_seconds=self._scheduler.eta(job),
                queue_position=self._scheduler.queue_position(job),
            ),
        )

    async def cancel(self, job_id: str, scope: str | None = None) -> Job:
        job = await self.get(job_id, scope)
        if not job.status.active or not await self._scheduler.cancel(job_id):
            raise Conflict(f"Job {job_id!r} is {job.status} and cannot be cancelled.", code=Code.JOB_NOT_ACTIVE)
        job = await self.get(job_id)
        retention.discard_upload(self._settings, job)  # a queued job ends here, not in a worker
        return job

    async def delete(self, job_id: str, scope: str | None = None) -> None:
        job = await self.get(job_id, scope)
        if job.status.active or not await self._store.delete_job(job_id):
            raise Conflict(f"Job {job_id!r} is {job.status}; cancel it before deleting.", code=Code.JOB_ACTIVE)
        await asyncio.to_thread(remove_results, self._settings.data_dir, job_id)
        if job.upload_path:
            await asyncio.to_thread((self._settings.data_dir / job.upload_path).unlink, missing_ok=True)
        self._changes.job_changed(job_id)
        log.info("job %s: deleted", job_id, extra={"job_id": job_id})

    async def history(
        self, status: str | None, limit: str | None, before: str | None, scope: str | None = None
    ) -> list[Job]:
        if status and status not in set(JobStatus):
            statuses = ", ".join(JobStatus)
            raise BadRequest(f"status must be one of {statuses}.", code=Code.INVALID_STATUS)
        cursor = await self._cursor(before, scope) if before else None
        return await self._store.list_jobs(status or None, page_size(limit), cursor, scope)

    async def _cursor(self, before: str, scope: str | None) -> tuple[str, str]:
        """`before` is a job id (the last one of the previous page) or an ISO timestamp."""
        job = await self._store.get_job(before)
        if job is not None and (scope is None or job.owner == scope):
            return job.created_at, job.job_id
        if not is_iso(before):
            raise BadRequest("before must be a job id or an ISO 8601 time.", code=Code.INVALID_BEFORE)
        return before, ""


def page_size(value: str | None) -> int:
    if value is None or value == "":
        return DEFAULT_PAGE
    if not value.isdigit() or not 1 <= int(value) <= MAX_PAGE:
        raise BadRequest(f"limit must be an integer from 1 to {MAX_PAGE}.", code=Code.INVALID_LIMIT)
    return int(value)
