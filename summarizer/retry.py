"""The one give-up/backoff rule for summaries, shared by the arq worker and the in-process relay."""

from __future__ import annotations

from typing import Final

BACKOFF_BASE_SECONDS: Final = 10.0
BACKOFF_CAP_SECONDS: Final = 600.0


def backoff_seconds(job_try: int, retry_after: float | None = None) -> float:
    """Delay before try job_try + 1: doubling from 10 s, at least what the server asked for."""
    doubling = BACKOFF_BASE_SECONDS * 2.0 ** min(job_try - 1, 16)
    return min(BACKOFF_CAP_SECONDS, max(doubling, retry_after or 0.0))


def next_delay(job_try: int, max_tries: int, retry_after: float | None = None) -> float | None:
    """Seconds to wait before the next try after try job_try failed transiently; None: give up."""
    if job_try >= max_tries:
        return None
    return backoff_seconds(job_try, retry_after)


def gave_up(error: object, job_try: int) -> str:
    return f"{error} (gave up after {job_try} tries)"
