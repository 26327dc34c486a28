"""A transcribed mono job split by speaker: diarize its audio, then give each word its speaker."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from transcriber.domain.options import JobOptions
from transcriber.outputs.speakers import assign, speaker_seconds
from transcriber.outputs.transcript import Segment
from transcriber.speech import audio
from transcriber.speech.diarize import diarize

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BySpeaker:
    """A job's segments cut by speaker, each speaker's name (its id at first) and voice vector."""

    segments: list[Segment]
    names: dict[str, str]
    voices: dict[str, tuple[float, ...]]
    seconds: float  # what diarization took


def by_speaker(path: Path, duration: float, options: JobOptions, segments: list[Segment]) -> BySpeaker:
    """Diarize the job's audio (read once more) and give each word its speaker."""
    started = time.perf_counter()
    found = diarize(audio.decode(path, audio.decode_cap(duration)), options.min_speakers, options.max_speakers)
    labelled, ids = assign(segments, found.turns)
    names = {speaker: speaker for speaker in speaker_seconds(labelled)}
    voices = {ids[label]: voice for label, voice in enumerate(found.voices) if ids.get(label) in names}
    took = round(time.perf_counter() - started, 3)
    log.info("diarization: %d speaker(s) in %.2f s", len(names), took)
    return BySpeaker(labelled, names, voices, took)
