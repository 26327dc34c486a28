"""How a relay loop takes a failed pass: a full disk is one WARNING per outage and growing waits."""

from __future__ import annotations

import logging

from transcriber.store.full import is_disk_full

log = logging.getLogger(__name__)
FIRST_WAIT_SECONDS = 1.0
MAX_WAIT_SECONDS = 30.0


class PassFailures:
    """Seconds to wait after each pass; a traceback for an unexpected error, one line for a full disk."""

    def __init__(self, relay: str, poll_seconds: float):
        self._relay = relay
        self._poll = poll_seconds
        self._wait: float | None = None  # None: no outage now

    @property
    def waiting(self) -> bool:
        """True during a disk-full outage."""
        return self._wait is not None

    def passed(self) -> float:
        if self._wait is not None:
            log.info("%s resumed: disk space is back", self._relay)
            self._wait = None
        return self._poll

    def failed(self, exc: BaseException) -> float:
        if not is_disk_full(exc):
            log.error("%s pass failed", self._relay, exc_info=exc)
            return self._poll
        if self._wait is None:
            log.warning("%s waits: out of disk space (%s); trying again with growing pauses", self._relay, exc)
            self._wait = FIRST_WAIT_SECONDS
        else:
            self._wait = min(MAX_WAIT_SECONDS, self._wait * 2)
        return self._wait
