"""A job as the core sees it: typed statuses and a frozen record; rows stay inside the store."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def active(self) -> bool:
        return self in (JobStatus.QUEUED, JobStatus.RUNNING)


ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)
FINISHED = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


class SummaryStatus(StrEnum):
    DISABLED = "disabled"
    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True)
class NewJob:
    """What an accepted upload inserts: the file is on disk and probed."""

    job_id: str
    duration: float
    options: dict[str, Any]
    upload_path: str
    upload_bytes: int
    upload_digest: str
    upload_filename: str | None
    upload_format: str
    callback_url: str | None = None  # where webhooks go (migration 0003)
    owner: str | None = None  # the creating API key's id (owners.py), never the key
    model: str | None = None  # the model it will run on; the one that did is written when it ends


@dataclass(frozen=True)
class Job:
    """One row of the jobs table, typed."""

    job_id: str
    status: JobStatus
    created_at: str
    updated_at: str
    duration: float
    upload_bytes: int
    upload_digest: str
    started_at: str | None = None
    finished_at: str | None = None
    attempts: int = 0
    progress: float = 0.0
    language: str | None = None
    language_probability: float | None = None
    languages: str | None = None  # "en,de": each segment's language, in order of first appearance
    speakers: str | None = None  # diarized: JSON [{"id", "name", "seconds"}] (migration 0010)
    options: dict[str, Any] = field(default_factory=dict)
    upload_path: str | None = None
    upload_filename: str | None = None
    upload_format: str | None = None
    text: str | None = None
    partial_text: str | None = None  # a running job's text so far, for the other servers (migration 0012)
    error_code: str | None = None
    error_message: str | None = None
    cancel_requested: bool = False
    model: str | None = None
    engine_version: str | None = None
    processing_seconds: float | None = None
    summary_status: SummaryStatus = SummaryStatus.DISABLED
    summary_text: str | None = None
    summary_error: str | None = None
    summary_updated_at: str | None = None
    owner: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Job:
        """Columns this class does not know (newer migrations) are ignored."""
        values = {k: row[k] for k in _FIELDS if k in row}
        values["status"] = JobStatus(values["status"])
        values["summary_status"] = SummaryStatus(values.get("summary_status") or "disabled")
        values["options"] = _options(values.get("options"))
        values["cancel_requested"] = bool(values.get("cancel_requested"))
        return cls(**values)


@dataclass(frozen=True)
class Outcome:
    """The terminal fields a finished job records (completed: the text; else: the error)."""

    status: JobStatus
    error_code: str | None = None
    error_message: str | None = None
    text: str | None = None
    language: str | None = None
    language_probability: float | None = None
    languages: str | None = None
    speakers: str | None = None
    model: str | None = None
    engine_version: str | None = None
    processing_seconds: float | None = None

    def columns(self) -> dict[str, Any]:
        values = {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}
        values["status"] = str(self.status)
        if self.status == JobStatus.COMPLETED:
            values["progress"] = 1.0
        return values


def _options(value: Any) -> dict[str, Any]:
    parsed = json.loads(value or "{}") if isinstance(value, str) else value or {}
    return parsed if isinstance(parsed, dict) else {}


_FIELDS = frozenset(f.name for f in fields(Job))
