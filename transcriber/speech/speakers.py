"""A transcribed mono job split by speaker: diarize its audio, then give each word its speaker."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from transcriber.domain.options import JobOptions
from transcriber.outputs.speakers import assign, speaker_seconds
from transcriber.outputs.transcript import Segment
from transcriber.speech import audio
from transcriber.speech.diarize import diarize

log = logging.getLogger(__name__)


def by_speaker(
    path: Path, duration: float, options: JobOptions, segments: list[Segment]
) -> tuple[list[Segment], dict[str, str], float]:
    """(segments cut by speaker, id -> name, seconds diarization took); the audio is read once more."""
    started = time.perf_counter()
    found = diarize(audio.decode(path, audio.decode_cap(duration)), options.min_speakers, options.max_speakers)
    labelled = assign(segments, found.turns)
    names = {speaker: speaker for speaker in speaker_seconds(labelled)}
    took = round(time.perf_counter() - started, 3)
    log.info("diarization: %d speaker(s) in %.2f s", len(names), took)
    return labelled, names, took
