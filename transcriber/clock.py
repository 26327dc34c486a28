"""UTC timestamps as the database and the API write them: ISO 8601 with milliseconds and a Z."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def iso(moment: datetime) -> str:
    """Sorts as text and reads well in the sqlite3 shell."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utcnow() -> str:
    return iso(datetime.now(UTC))


def utc_after(seconds: float) -> str:
    return iso(datetime.now(UTC) + timedelta(seconds=seconds))


def from_epoch(seconds: float) -> str:
    return iso(datetime.fromtimestamp(seconds, UTC))


def epoch(text: str) -> float:
    """Seconds since the epoch of an ISO 8601 time (a trailing Z is UTC)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def is_iso(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True
