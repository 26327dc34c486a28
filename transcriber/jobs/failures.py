"""Known ways a job fails that are the input's or the machine's doing, with their stable codes."""

from __future__ import annotations

from transcriber.domain.job import JobStatus, Outcome
from transcriber.errors import Code
from transcriber.speech.audio import AudioTooLong


def known_failure(exc: BaseException) -> Outcome | None:
    """The failed outcome for an expected failure (no traceback needed), or None."""
    if isinstance(exc, AudioTooLong):
        message = f"The audio is longer than it measured at upload ({exc}); it was not transcribed."
        return Outcome(JobStatus.FAILED, Code.AUDIO_TOO_LONG, message)
    return None
