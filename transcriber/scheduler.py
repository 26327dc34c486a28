"""Scheduling: admission, the worker pool, progress, cancellation, recovery and shutdown."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from transcriber.engine import Engine
from transcriber.errors import Unavailable
from transcriber.jobqueue import JobQueue
from transcriber.metrics import Metrics
from transcriber.options import JobOptions
from transcriber.results import write_results
from transcriber.settings import Settings
from transcriber.store import Row, Store
from transcriber.transcript import Segment, Transcript

log = logging.getLogger(__name__)
PROGRESS_WRITE_INTERVAL = 2.0
INITIAL_RTF = {"cpu": 0.3, "cuda": 0.05}
# Called in the same transaction as the job's completion (the summary outbox hooks in here).
# Hooks are called as hook(conn, job_id=..., transcript=...).
CompletionHook = Callable[..., Awaitable[None]]


class JobCancelled(Exception):
    """Raised in the worker thread at a segment boundary when a cancel was requested."""


class JobInterrupted(Exception):
    """Raised in the worker thread at a segment boundary when the server shuts down."""


@dataclass
class RunningJob:
    job_id: str
    duration: float
    started: float = field(default_factory=time.monotonic)
    last_progress: float = field(default_factory=time.monotonic)
    progress: float = 0.0
    language: str | None = None
    languages: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    cancel: threading.Event = field(default_factory=threading.Event)
    interrupt: threading.Event = field(default_factory=threading.Event)
    last_write: float = 0.0
    logged_progress: float = 0.0

    def check(self) -> None:
        if self.cancel.is_set():
            raise JobCancelled
        if self.interrupt.is_set():
            raise JobInterrupted


class Scheduler:
    """Feeds queued job ids to a thread pool running the engine; SQLite stays the truth."""

    def __init__(self, settings: Settings, store: Store, metrics: Metrics):
        self._settings = settings
        self._store = store
        self._metrics = metrics
        self.queue = JobQueue()
        self.running: dict[str, RunningJob] = {}
        self.engine: Engine | None = None
        self.load_error: str | None = None
        self.rtf = INITIAL_RTF["cpu"]
        self.completion_hooks: list[CompletionHook] = []
        self._workers: list[asyncio.Task[None]] = []
        self._pool: ThreadPoolExecutor | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._closing = False

    @property
    def ready(self) -> bool:
        return self.engine is not None and not self._closing

    @property
    def capacity(self) -> int:
        return self._settings.queue.capacity

    async def recover(self) -> None:
        """Re-queue what a previous process accepted but did not finish."""
        requeued, failed = await self._store.recover(self._settings.queue.max_attempts)
        for row in failed:
            job_id = row["job_id"]
            log.error(
                "job %s: failed, it was running during %d crashes",
                job_id,
                self._settings.queue.max_attempts,
                extra={"job_id": job_id},
            )
            self._metrics.jobs.labels("failed").inc()
            self._cleanup_upload(row)
        for row in await self._store.queued_jobs():
            self.queue.put(row["job_id"], row["duration"], _epoch(row["created_at"]))
        if requeued or len(self.queue):
            log.info("recovered %d queued jobs (%d were running)", len(self.queue), len(requeued))

    def start(self, engine: Engine) -> None:
        self.engine = engine
        self.rtf = INITIAL_RTF.get(engine.info.device, 0.3)
        workers = engine.info.workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="whisper")
        self._workers = [asyncio.create_task(self._worker_loop(), name=f"worker-{i}") for i in range(workers)]

    def admit(self, extra_seconds: float = 0.0) -> None:
        """Raise 503 unless a new job can be queued now."""
        if self.engine is None:
            raise Unavailable("The model is still loading; try again shortly.", code="model_loading", retry_after=5)
        if self._closing:
            raise Unavailable("The server is shutting down.", code="shutting_down", retry_after=10)
        if len(self.queue) >= self.capacity:
            wait = (self.queue.total_seconds() + extra_seconds) * self.rtf / self.workers
            raise Unavailable(
                f"The queue is full ({self.capacity} jobs); try again later.", code="queue_full", retry_after=wait
            )

    def enqueue(self, job_id: str, duration: float) -> None:
        self.queue.put(job_id, duration, time.time())

    @property
    def workers(self) -> int:
        return self.engine.info.workers if self.engine else 1

    def eta(self, row: Row) -> float | None:
        """Seconds until the job is done, from the measured real-time factor."""
        run = self.running.get(row["job_id"])
        if run is not None:
            elapsed = time.monotonic() - run.started
            if run.progress > 0.02:
                return max(0.0, elapsed * (1 - run.progress) / run.progress)
            return max(0.0, run.duration * self.rtf - elapsed)
        if row["job_id"] not in self.queue:
            return None
        running_left = sum(max(0.0, r.duration * (1 - r.progress)) for r in self.running.values())
        ahead = self.queue.seconds_ahead(row["job_id"]) + running_left
        return float((ahead / self.workers + row["duration"]) * self.rtf)

    def stalled(self) -> list[str]:
        """Running jobs that made no progress for longer than their audio length allows."""
        now = time.monotonic()
        limit = self._settings.queue.stall_seconds
        return [
            j.job_id for j in self.running.values() if now - j.last_progress > limit + 0.5 * min(j.duration, 1200.0)
        ]

    async def cancel(self, job_id: str) -> str:
        """'cancelled' for a queued job, 'cancelling' for a running one, '' if neither."""
        if await self._store.cancel_queued(job_id):
            self.queue.remove(job_id)
            self._metrics.jobs.labels("cancelled").inc()
            log.info("job %s: cancelled while queued", job_id, extra={"job_id": job_id})
            return "cancelled"
        run = self.running.get(job_id)
        if run is not None and await self._store.request_cancel(job_id):
            run.cancel.set()
            log.info("job %s: cancel requested while running", job_id, extra={"job_id": job_id})
            return "cancelling"
        return ""

    async def _worker_loop(self) -> None:
        while (job_id := await self.queue.get()) is not None:
            try:
                await self._run(job_id)
            except Exception:  # a failed job is data; the worker must live on
                log.exception("job %s: worker error", job_id, extra={"job_id": job_id})

    async def _run(self, job_id: str) -> None:
        row = await self._store.claim_job(job_id)
        if row is None:
            return
        run = RunningJob(job_id, row["duration"])
        self.running[job_id] = run
        self._metrics.queue_wait.observe(max(0.0, time.time() - _epoch(row["created_at"])))
        log.info(
            "job %s: started (attempt %d, %.1f s of audio)",
            job_id,
            row["attempts"],
            run.duration,
            extra={"job_id": job_id},
        )
        try:
            await self._execute(row, run)
        finally:
            self.running.pop(job_id, None)

    async def _execute(self, row: Row, run: RunningJob) -> None:
        loop = asyncio.get_running_loop()
        assert self.engine is not None and self._pool is not None
        options = JobOptions.from_dict(_json(row["options"]))
        path = self._settings.data_dir / row["upload_path"]

        def on_segment(segment: Segment, language: str | None) -> None:
            run.check()
            loop.call_soon_threadsafe(self._on_progress, run, segment, language)

        started = time.perf_counter()
        try:
            transcript = await loop.run_in_executor(
                self._pool, self._transcribe_and_write, path, run, options, on_segment
            )
        except JobCancelled:
            await self._finish(run, "cancelled", {"error_code": "cancelled", "error_message": "Cancelled by request."})
        except JobInterrupted:
            await self._store.requeue_job(run.job_id, refund_attempt=True)
            log.info("job %s: interrupted by shutdown, back in the queue", run.job_id, extra={"job_id": run.job_id})
        except Exception as exc:
            log.exception("job %s: failed", run.job_id, extra={"job_id": run.job_id})
            await self._finish(run, "failed", {"error_code": "transcription_failed", "error_message": _describe(exc)})
        else:
            await self._complete(row, run, transcript, time.perf_counter() - started)

    def _transcribe_and_write(
        self, path: Path, run: RunningJob, options: JobOptions, on_segment: Callable[[Segment, str | None], None]
    ) -> Transcript:
        """Runs in a pool thread: the model call and the segment iteration both stay off the loop."""
        assert self.engine is not None
        run.check()
        transcript = self.engine.transcribe(path, run.duration, options, on_segment)
        run.check()
        write_results(self._settings.data_dir, run.job_id, transcript)
        return transcript

    def _on_progress(self, run: RunningJob, segment: Segment, language: str | None) -> None:
        now = time.monotonic()
        run.last_progress = now
        run.language = run.language or language
        if language and language not in run.languages:
            run.languages.append(language)
        run.texts.append(segment.text.strip())
        if run.duration > 0:
            run.progress = min(0.99, max(run.progress, segment.end / run.duration))
        if now - run.last_write >= PROGRESS_WRITE_INTERVAL:
            run.last_write = now
            self.spawn(self._store.set_progress(run.job_id, run.progress, language))
        if run.progress >= run.logged_progress + 0.1:
            run.logged_progress = run.progress - run.progress % 0.1
            log.info(
                "job %s: %.0f%% (%.1f of %.1f s)",
                run.job_id,
                run.progress * 100,
                segment.end,
                run.duration,
                extra={"job_id": run.job_id},
            )

    async def _complete(self, row: Row, run: RunningJob, transcript: Transcript, seconds: float) -> None:
        assert self.engine is not None
        fields = {
            "text": transcript.text, "language": transcript.language, "languages": ",".join(transcript.languages),
            "language_probability": transcript.language_probability, "progress": 1.0,
            "model": self.engine.info.name, "processing_seconds": round(seconds, 3),
            "engine_version": ", ".join(f"{k} {v}" for k, v in self.engine.info.versions.items()),
        }  # fmt: skip
        await self._store.finish_job(
            run.job_id,
            "completed",
            fields,
            hooks=[functools.partial(h, job_id=run.job_id, transcript=transcript) for h in self.completion_hooks],
        )
        self._observe(run.duration, seconds)
        log.info(
            "job %s: completed in %.2f s (%.1f s audio, language %s)",
            run.job_id,
            seconds,
            run.duration,
            transcript.language,
            extra={"job_id": run.job_id},
        )
        self._cleanup_upload(row)

    async def _finish(self, run: RunningJob, status: str, fields: Row) -> None:
        await self._store.finish_job(run.job_id, status, fields)
        self._metrics.jobs.labels(status).inc()
        log.info("job %s: %s (%s)", run.job_id, status, fields.get("error_message"), extra={"job_id": run.job_id})
        row = await self._store.get_job(run.job_id)
        if row is not None:
            self._cleanup_upload(row)

    def _observe(self, duration: float, seconds: float) -> None:
        self._metrics.jobs.labels("completed").inc()
        self._metrics.processing.observe(seconds)
        self._metrics.audio_seconds.inc(duration)
        if duration > 1.0:
            rtf = seconds / duration
            self._metrics.rtf.observe(rtf)
            self.rtf = 0.7 * self.rtf + 0.3 * rtf

    def _cleanup_upload(self, row: Row) -> None:
        if not self._settings.queue.keep_uploads and row.get("upload_path"):
            (self._settings.data_dir / row["upload_path"]).unlink(missing_ok=True)

    def spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def stop(self, timeout: float) -> None:
        """Stop taking jobs; let running ones finish within timeout, then requeue them."""
        self._closing = True
        self.queue.stop_workers(len(self._workers))
        if self._workers:
            _, pending = await asyncio.wait(self._workers, timeout=timeout)
            if pending:
                for run in self.running.values():
                    run.interrupt.set()
                _, pending = await asyncio.wait(pending, timeout=30)
            for task in pending:
                task.cancel()
        if self._background:
            await asyncio.wait(self._background, timeout=5)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _json(text: str) -> dict[str, Any]:
    value = json.loads(text or "{}")
    return value if isinstance(value, dict) else {}


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
