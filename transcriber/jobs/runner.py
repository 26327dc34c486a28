"""Running one claimed job: the engine in a pool thread, live progress, and the recorded outcome."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from transcriber.domain.job import Job, JobStatus, Outcome
from transcriber.domain.options import JobOptions
from transcriber.events.changes import ChangeFeed
from transcriber.jobs.estimates import Estimator
from transcriber.jobs.failures import known_failure
from transcriber.jobs.outage import is_disk_full
from transcriber.jobs.voices import match
from transcriber.metrics import Metrics
from transcriber.outputs.cues import CueLayout
from transcriber.outputs.formats import DEFAULT_LAYOUT
from transcriber.outputs.results import remove_results, write_results
from transcriber.outputs.speakers import speaker_seconds
from transcriber.outputs.transcript import Segment, Transcript
from transcriber.setting_sections import OutputSettings
from transcriber.speech.engine import Engine, EngineInfo
from transcriber.speech.pool import ModelPool, ModelUnavailable
from transcriber.store import voice_rows
from transcriber.store.sqlite import Store
from transcriber.store.types import FinishHook

log = logging.getLogger(__name__)
PROGRESS_WRITE_INTERVAL = 2.0
PROGRESS_EVENT_INTERVAL = 0.25


class JobCancelled(Exception):
    """Raised in the worker thread at a segment boundary when a cancel was requested."""


class JobInterrupted(Exception):
    """Raised in the worker thread at a segment boundary when the server shuts down."""


@dataclass
class RunningJob:
    """Live state of a running job; written on the event loop, flags read from the worker thread."""

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
    last_event: float = 0.0
    logged_progress: float = 0.0
    wide: bool = False  # decoding alone on every core (jobs/width.py)

    def check(self) -> None:
        if self.cancel.is_set():
            raise JobCancelled
        if self.interrupt.is_set():
            raise JobInterrupted


@dataclass(frozen=True)
class RunnerDeps:
    store: Store
    metrics: Metrics
    estimator: Estimator
    changes: ChangeFeed
    data_dir: Path
    hooks: Sequence[FinishHook]
    spawn: Callable[[Awaitable[Any]], None]
    owner: str | None = None  # lease holder on a shared store: writes only while it holds the job
    layout: CueLayout = DEFAULT_LAYOUT  # how subtitle cues are cut ([output])


def speakers_json(transcript: Transcript) -> str | None:
    """The speakers column of a diarized job: [{"id", "name", "seconds"}] as JSON."""
    if not transcript.diarized:
        return None
    seconds = speaker_seconds(transcript.segments)
    names, voices = transcript.speaker_names, transcript.speaker_voices
    rows = [{"id": k, "name": names.get(k, k), "seconds": v} for k, v in seconds.items()]
    # The voice vector stays in the row (POST /voices enrolls from it); /status leaves it out.
    return json.dumps([{**row, "voice": [round(x, 5) for x in voices.get(str(row["id"]), ())]} for row in rows])


def cue_layout(output: OutputSettings) -> CueLayout:
    """The [output] settings as the subtitle renderers take them."""
    return CueLayout(output.max_line_chars, output.max_lines, output.max_cue_seconds)


class JobRunner:
    """Transcribes a job with its model's engine off the event loop and records what came of it."""

    def __init__(self, models: ModelPool, deps: RunnerDeps):
        self._models = models
        self._deps = deps

    async def run(self, job: Job, run: RunningJob, pool: Executor) -> bool:
        """True once the job is finished (completed, failed, cancelled); False if requeued."""
        try:
            async with self._models.use(job.options.get("model")) as engine:
                return await self._run(engine, job, run, pool)
        except ModelUnavailable as exc:
            await self._finish(run, Outcome(JobStatus.FAILED, "model_unavailable", str(exc)))
            return True

    async def _run(self, engine: Engine, job: Job, run: RunningJob, pool: Executor) -> bool:
        loop = asyncio.get_running_loop()
        options = JobOptions.from_dict(job.options)
        path = self._deps.data_dir / (job.upload_path or "")
        run.started = run.last_progress = time.monotonic()  # a model loaded first is no stall

        def on_segment(segment: Segment, language: str | None) -> None:
            run.check()
            loop.call_soon_threadsafe(self._on_progress, run, segment, language)

        enrolled = [(name, list(vector)) for name, vector in options.known_voices]  # the request's own first
        enrolled += await voice_rows.vectors(self._deps.store, job.owner) if options.diarize else []
        started = time.perf_counter()
        try:
            transcript = await loop.run_in_executor(
                pool, self._transcribe, engine, path, run, options, on_segment, enrolled
            )
        except JobCancelled:
            await self._finish(run, Outcome(JobStatus.CANCELLED, "cancelled", "Cancelled by request."))
        except JobInterrupted:
            await self._deps.store.requeue_job(run.job_id, refund_attempt=True, owner=self._deps.owner)
            self._deps.changes.job_changed(run.job_id)
            log.info("job %s: interrupted by shutdown, back in the queue", run.job_id, extra={"job_id": run.job_id})
            return False
        except Exception as exc:
            if is_disk_full(exc):
                raise  # not the job's fault: the scheduler puts it back until space returns
            if (known := known_failure(exc)) is None:
                log.exception("job %s: failed", run.job_id, extra={"job_id": run.job_id})
            await self._finish(run, known or Outcome(JobStatus.FAILED, "transcription_failed", _describe(exc)))
        else:
            await self._complete(engine.info, run, transcript, time.perf_counter() - started)
        return True

    def _transcribe(
        self,
        engine: Engine,
        path: Path,
        run: RunningJob,
        options: JobOptions,
        on_segment: Callable[[Segment, str | None], None],
        enrolled: list[tuple[str, list[float]]],
    ) -> Transcript:
        """Runs in a pool thread: the model call and the segment iteration both stay off the loop."""
        run.check()
        transcript = engine.transcribe(path, run.duration, options, on_segment, wide=run.wide)
        run.check()
        known = match(transcript.speaker_voices, enrolled)  # speakers whose voice is enrolled get its name
        if known:
            transcript = replace(transcript, speaker_names={**transcript.speaker_names, **known})
        write_results(self._deps.data_dir, run.job_id, transcript, self._deps.layout)
        return transcript

    def _on_progress(self, run: RunningJob, segment: Segment, language: str | None) -> None:
        now = time.monotonic()
        run.last_progress, run.language = now, run.language or language
        if language and language not in run.languages:
            run.languages.append(language)
        run.texts.append(segment.text.strip())
        if run.duration > 0:
            run.progress = min(0.99, max(run.progress, segment.end / run.duration))
        if now - run.last_write >= PROGRESS_WRITE_INTERVAL:
            run.last_write = now
            self._deps.spawn(self._write_progress(run, language))
        if now - run.last_event >= PROGRESS_EVENT_INTERVAL:
            run.last_event = now
            self._deps.changes.job_changed(run.job_id)
        if run.progress >= run.logged_progress + 0.1:
            run.logged_progress = run.progress - run.progress % 0.1
            done = f"{run.progress * 100:.0f}% ({segment.end:.1f} of {run.duration:.1f} s)"
            log.info("job %s: %s", run.job_id, done, extra={"job_id": run.job_id})

    async def _write_progress(self, run: RunningJob, language: str | None) -> None:
        """Progress is advisory: a write the store refuses (a full disk) is skipped, not fatal."""
        try:
            # a shared store's other servers show the text so far from the row; one server needs none
            text = " ".join(t for t in run.texts if t) if self._deps.store.shared else None
            await self._deps.store.set_progress(run.job_id, run.progress, language, text)
        except Exception as exc:
            level = logging.DEBUG if is_disk_full(exc) else logging.WARNING
            log.log(level, "job %s: progress not saved (%s)", run.job_id, exc, extra={"job_id": run.job_id})

    async def _complete(self, info: EngineInfo, run: RunningJob, transcript: Transcript, seconds: float) -> None:
        outcome = Outcome(
            JobStatus.COMPLETED,
            text=transcript.text,
            language=transcript.language,
            language_probability=transcript.language_probability,
            languages=",".join(transcript.languages),
            speakers=speakers_json(transcript),
            model=info.name,
            processing_seconds=round(seconds, 3),
            engine_version=", ".join(f"{k} {v}" for k, v in info.versions.items()),
        )
        if not await self._deps.store.finish_job(run.job_id, outcome, self._deps.hooks, owner=self._deps.owner):
            # A cancel committed while the last segment ran: the client was told 202 "cancelling".
            if await self._finish(run, Outcome(JobStatus.CANCELLED, "cancelled", "Cancelled by request.")):
                await asyncio.to_thread(remove_results, self._deps.data_dir, run.job_id)
            return
        self._observe(run.duration, seconds)
        self._deps.changes.job_changed(run.job_id)
        took = f"{seconds:.2f} s ({run.duration:.1f} s audio, language {transcript.language})"
        log.info("job %s: completed in %s", run.job_id, took, extra={"job_id": run.job_id})

    async def _finish(self, run: RunningJob, outcome: Outcome) -> bool:
        if not await self._deps.store.finish_job(run.job_id, outcome, owner=self._deps.owner):
            return False
        self._deps.metrics.jobs.labels(str(outcome.status)).inc()
        self._deps.changes.job_changed(run.job_id)
        log.info("job %s: %s (%s)", run.job_id, outcome.status, outcome.error_message, extra={"job_id": run.job_id})
        return True

    def _observe(self, duration: float, seconds: float) -> None:
        metrics = self._deps.metrics
        metrics.jobs.labels("completed").inc()
        metrics.processing.observe(seconds)
        metrics.audio_seconds.inc(duration)
        rtf = self._deps.estimator.observe(duration, seconds)
        if rtf is not None:
            metrics.rtf.observe(rtf)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
