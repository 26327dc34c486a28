"""Typed summary errors, split by whether trying again can help."""

from __future__ import annotations


class SummaryError(Exception):
    """A summary could not be made; the message is meant for people."""


class TransientSummaryError(SummaryError):
    """Timeouts, connection errors, 429 and 5xx: worth trying again later."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentSummaryError(SummaryError):
    """Other 4xx answers, malformed responses, bad config: trying again gives the same."""
