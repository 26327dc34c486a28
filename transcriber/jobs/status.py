"""The one place that renders a Job as the /status body (and each item of /jobs)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from transcriber.domain.job import Job, JobStatus
from transcriber.outputs.formats import FORMATS


@dataclass(frozen=True)
class Live:
    """What only the scheduler knows: progress and text so far, ETA, place in line."""

    progress: float | None = None
    text: str | None = None
    language: str | None = None
    languages: tuple[str, ...] = ()
    eta_seconds: float | None = None
    queue_position: int | None = None


def status_body(job: Job, live: Live) -> dict[str, Any]:
    """The row, overlaid with live progress while the job runs."""
    running = job.status == JobStatus.RUNNING and live.progress is not None
    progress = live.progress if running and live.progress is not None else job.progress
    return {
        "job_id": job.job_id,
        "status": str(job.status),
        "progress": round(progress, 4),
        "eta_seconds": None if live.eta_seconds is None else round(live.eta_seconds, 1),
        "queue_position": live.queue_position if job.status == JobStatus.QUEUED else None,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "language": (live.language or job.language) if running else job.language,
        "languages": list(live.languages) if running else _languages(job),
        "language_probability": job.language_probability,
        "duration": job.duration,
        "text": live.text if running else job.text,
        "attempts": job.attempts,
        "error": {"code": job.error_code, "message": job.error_message} if job.error_code else None,
        "results": _results(job),
        "summary": {"status": str(job.summary_status), "text": job.summary_text, "error": job.summary_error},
        "options": _shown_options(job.options),
        "speakers": speakers_of(job),
    }


def _shown_options(options: dict[str, Any]) -> dict[str, Any]:
    """The job's options; known voices by name only (their vectors stay in the row)."""
    if not options.get("known_voices"):
        return options
    return {**options, "known_voices": [entry[0] for entry in options["known_voices"]]}


def speakers_of(job: Job) -> list[dict[str, Any]] | None:
    """A diarized job's speakers (id, name, seconds) in order of first appearance; None otherwise."""
    if not job.speakers:
        return None
    found = json.loads(job.speakers)
    if not isinstance(found, list):
        return None
    return [{k: v for k, v in entry.items() if k != "voice"} for entry in found]


def _languages(job: Job) -> list[str]:
    """Each language the transcript holds, in order of appearance; the job's one before that is known."""
    stored = [code for code in (job.languages or "").split(",") if code]
    return stored or ([job.language] if job.language else [])


def _results(job: Job) -> dict[str, str] | None:
    if job.status != JobStatus.COMPLETED:
        return None
    return {name: f"/jobs/{job.job_id}/transcript.{name}" for name in FORMATS}
