"""How long an upload may take: the whole-upload deadline, the idle limit and a floor on the rate."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

from transcriber.errors import Code, ServiceError, UploadTimeout
from transcriber.settings import Settings

KIB = 1024
SAMPLES_PER_WINDOW = 16  # the rate is measured from a few samples per window, not from every chunk


class UploadTooSlow(UploadTimeout):
    """The upload's average rate over the window fell under the floor (408 upload_too_slow)."""


@dataclass(frozen=True)
class Pace:
    """The limits on an upload's timing, from [server] upload_timeout and [limits]."""

    timeout: float
    idle: float = 0.0  # 0: no idle limit
    min_rate: float = 0.0  # bytes per second over `window`; 0: no floor
    window: float = 0.0

    @classmethod
    def of(cls, settings: Settings) -> Pace:
        limits = settings.limits
        rate = limits.min_upload_kb_per_second * KIB if limits.upload_rate_window_seconds > 0 else 0.0
        return cls(settings.server.upload_timeout, limits.upload_idle_seconds, rate, limits.upload_rate_window_seconds)


class Deadline:
    """The whole-upload deadline, pulled in to `idle` seconds from the last data received and to
    `window` seconds from it when there is a rate floor (nothing for a window is a rate of 0)."""

    def __init__(self, timeout: asyncio.Timeout, pace: Pace):
        self._timeout = timeout
        self._end = timeout.when()
        self._pace = pace
        self._now = asyncio.get_running_loop().time
        self._started = self._now()
        self._received = 0
        self._samples: deque[tuple[float, int]] = deque([(self._started, 0)])
        self._slow_next = False
        self.touch()

    def touch(self, nbytes: int = 0) -> None:
        """Data arrived (nbytes of the body): check the rate floor, then move the deadline."""
        now = self._now()
        self._received += nbytes
        if self._pace.min_rate > 0:
            self._check_rate(now)
        self._reschedule(now)

    def expired(self) -> ServiceError:
        """The error for the deadline that ran out."""
        if self._slow_next:
            return self._too_slow()
        pace = self._pace
        message = f"The upload did not finish within {pace.timeout:.0f} seconds."
        if pace.idle > 0:
            message = f"{message[:-1]}, or sent nothing for {pace.idle:.0f} seconds."
        return UploadTimeout(message, code=Code.UPLOAD_TIMEOUT)

    def _check_rate(self, now: float) -> None:
        window, samples = self._pace.window, self._samples
        if now - samples[-1][0] >= window / SAMPLES_PER_WINDOW:
            samples.append((now, self._received))
        while len(samples) > 1 and samples[1][0] <= now - window:
            samples.popleft()  # samples[0] stays the newest one at least a window old
        since, then = samples[0]
        if now - self._started >= window and (self._received - then) / max(now - since, 1e-9) < self._pace.min_rate:
            raise self._too_slow()

    def _reschedule(self, now: float) -> None:
        pace = self._pace
        candidates = [t for t in (self._end, now + pace.idle if pace.idle > 0 else None) if t is not None]
        slow_at = now + pace.window if pace.min_rate > 0 else None
        self._slow_next = slow_at is not None and all(slow_at < t for t in candidates)
        if slow_at is not None:
            candidates.append(slow_at)
        if candidates and (pace.idle > 0 or pace.min_rate > 0):
            self._timeout.reschedule(min(candidates))

    def _too_slow(self) -> UploadTooSlow:
        pace = self._pace
        message = (
            f"The upload was slower than {pace.min_rate / KIB:.0f} KB/s over {pace.window:.0f} seconds;"
            " its partial file was removed."
        )
        return UploadTooSlow(message, code=Code.UPLOAD_TOO_SLOW)
