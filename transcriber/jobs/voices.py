"""Enrolled voices: a person's vector from a clip or a diarized job's speaker, and naming matches."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from transcriber.domain.job import Job, JobStatus
from transcriber.errors import BadRequest, Code, UnsupportedMedia
from transcriber.speech import audio
from transcriber.speech.diarize import voice_of

# Cosine similarity of whole-clip GE2E vectors at or above which two clips are the same person.
# Measured (tools in bench/diarization.py): the same real reader 0.80-0.96 (JFK's two halves, 5 s
# each: 0.80), different real readers 0.44-0.50, the English and German reader of multilingual.mp3
# 0.61-0.76. espeak-ng's voice variants score 0.85-0.95 with each other: GE2E hears one speaker.
VOICE_MATCH = 0.78
MIN_VOICE_SECONDS = 2.0  # of speech in an enrollment clip
MAX_CLIP_SECONDS = 600.0


def clip_voice(path: Path, max_seconds: float) -> tuple[tuple[float, ...], float]:
    """(vector, seconds of speech) of a clip; blocking. Raises AudioTooLong past max_seconds."""
    return voice_of(audio.decode(path, max_seconds))


async def vector_of_clip(path: Path) -> list[float]:
    """The voice of one person's clip; too little speech (or none) is a 400."""
    try:
        vector, seconds = await asyncio.to_thread(clip_voice, path, MAX_CLIP_SECONDS)
    except audio.AudioTooLong as exc:
        raise BadRequest(
            f"A voice clip may be at most {MAX_CLIP_SECONDS:.0f} s long.", code=Code.INVALID_VOICE
        ) from exc
    except Exception as exc:  # PyAV's errors for what is not audio at all
        raise UnsupportedMedia("The voice clip is not decodable audio.", code=Code.NOT_AUDIO) from exc
    if seconds < MIN_VOICE_SECONDS:
        message = f"The clip has {seconds:.1f} s of speech; a voice needs at least {MIN_VOICE_SECONDS:.0f} s."
        raise BadRequest(message, code=Code.VOICE_TOO_SHORT)
    return list(vector)


def vector_of_speaker(job: Job, speaker: str) -> list[float]:
    """The voice a diarized job heard for one of its speaker ids."""
    if job.status != JobStatus.COMPLETED or not job.speakers:
        raise BadRequest(f"Job {job.job_id!r} has no diarized speakers.", code=Code.UNKNOWN_SPEAKER)
    for entry in json.loads(job.speakers):
        if entry.get("id") == speaker and entry.get("voice"):
            return [float(x) for x in entry["voice"]]
    raise BadRequest(f"Job {job.job_id!r} has no speaker {speaker!r}.", code=Code.UNKNOWN_SPEAKER)


def match(voices: dict[str, tuple[float, ...]], enrolled: Sequence[tuple[str, list[float]]]) -> dict[str, str]:
    """speaker id -> enrolled name, for each pair at or above VOICE_MATCH, most similar first; each
    enrolled voice and each speaker is used at most once."""
    pairs = []
    for speaker, vector in voices.items():
        for index, (_, other) in enumerate(enrolled):
            if len(other) == len(vector):
                pairs.append((float(np.dot(vector, other)), speaker, index))
    named: dict[str, str] = {}
    used: set[int] = set()
    for similarity, speaker, index in sorted(pairs, reverse=True):
        if similarity >= VOICE_MATCH and speaker not in named and index not in used:
            named[speaker] = enrolled[index][0]
            used.add(index)
    return named
