"""Read-only views the scheduler hands out: a running job's progress, and its state for /health."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LiveJob:
    """What a running job has produced so far."""

    progress: float
    text: str
    language: str | None
    languages: tuple[str, ...] = ()


@dataclass(frozen=True)
class SchedulerSnapshot:
    """A read-only view for /health and /metrics."""

    started: bool
    closing: bool
    queued: int
    running: int
    capacity: int
    stalled: tuple[str, ...]
