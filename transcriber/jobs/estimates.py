"""Time estimates from the measured real-time factor: ETAs, Retry-After, stall deadlines. Pure."""

from __future__ import annotations

from dataclasses import dataclass

INITIAL_RTF = {"cpu": 0.3, "cuda": 0.05}
# A job may go quiet between segments for a while (a long silence, a slow first window); the
# allowance grows with its length, capped at 20 minutes of audio.
STALL_AUDIO_SHARE = 0.5
STALL_AUDIO_CAP = 1200.0
SMOOTHING = 0.3


@dataclass
class Estimator:
    """Seconds of processing per second of audio, smoothed over finished jobs."""

    rtf: float = INITIAL_RTF["cpu"]
    stall_seconds: float = 120.0

    @classmethod
    def for_device(cls, device: str, stall_seconds: float) -> Estimator:
        return cls(INITIAL_RTF.get(device, INITIAL_RTF["cpu"]), stall_seconds)

    def observe(self, duration: float, seconds: float) -> float | None:
        """Learn from a finished job; returns its real-time factor when it is long enough to count."""
        if duration <= 1.0:
            return None
        rtf = seconds / duration
        self.rtf = (1 - SMOOTHING) * self.rtf + SMOOTHING * rtf
        return rtf

    def running_eta(self, duration: float, progress: float, elapsed: float) -> float:
        if progress > 0.02:
            return max(0.0, elapsed * (1 - progress) / progress)
        return max(0.0, duration * self.rtf - elapsed)

    def queued_eta(self, audio_ahead: float, duration: float, workers: int) -> float:
        return (audio_ahead / max(workers, 1) + duration) * self.rtf

    def retry_after(self, audio_queued: float, workers: int) -> float:
        return audio_queued * self.rtf / max(workers, 1)

    def stalled(self, duration: float, quiet_for: float) -> bool:
        """No progress for longer than a job of this length may plausibly go quiet."""
        return quiet_for > self.stall_seconds + STALL_AUDIO_SHARE * min(duration, STALL_AUDIO_CAP)
