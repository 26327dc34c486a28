"""Who spoke when on a mono recording: VAD speech, a voice vector per 1.6 s window, clustered."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from faster_whisper.vad import VadOptions, get_speech_timestamps

from transcriber.outputs.speakers import Turn
from transcriber.speech import audio, voice_encoder
from transcriber.speech.clustering import cluster

WINDOW_SECONDS = voice_encoder.PARTIAL_SAMPLES / audio.SAMPLE_RATE
HOP_SECONDS = 0.75  # windows overlap by half: a turn of 2 s still gets a window of its own
CHUNK_SECONDS = 600.0  # audio is read in chunks so a long meeting never sits in memory whole
_VAD = VadOptions(min_silence_duration_ms=300, speech_pad_ms=100)


@dataclass(frozen=True)
class Diarization:
    """Turns labelled 0, 1, ... plus each label's voice vector (for matching enrolled voices)."""

    turns: tuple[Turn, ...]
    voices: tuple[tuple[float, ...], ...]


def windows(samples: audio.Samples) -> list[tuple[float, float]]:
    """(start, end) seconds of the windows that cover each VAD speech region of a chunk."""
    found: list[tuple[float, float]] = []
    total = len(samples) / audio.SAMPLE_RATE
    for region in get_speech_timestamps(samples, _VAD, sampling_rate=audio.SAMPLE_RATE):
        start, end = region["start"] / audio.SAMPLE_RATE, region["end"] / audio.SAMPLE_RATE
        if end - start <= WINDOW_SECONDS:  # a short turn: one window around its middle
            middle = (start + end) / 2
            begin = min(max(0.0, middle - WINDOW_SECONDS / 2), max(0.0, total - WINDOW_SECONDS))
            found.append((begin, min(total, begin + WINDOW_SECONDS)))
            continue
        at = start
        while at + WINDOW_SECONDS < end:
            found.append((at, at + WINDOW_SECONDS))
            at += HOP_SECONDS
        found.append((end - WINDOW_SECONDS, end))
    return found


def _embedded(blocks: Iterator[audio.Samples]) -> tuple[list[tuple[float, float]], np.ndarray]:
    spans: list[tuple[float, float]] = []
    vectors: list[np.ndarray] = []
    for offset, samples in audio.chunks(blocks, CHUNK_SECONDS):
        found = windows(samples)
        starts = [int(s * audio.SAMPLE_RATE) for s, _ in found]
        vectors.append(voice_encoder.embed_windows(samples, starts))
        spans += [(offset + s, offset + e) for s, e in found]
    return spans, (np.concatenate(vectors) if vectors else np.zeros((0, 256), dtype=np.float32))


def diarize(blocks: Iterator[audio.Samples], min_speakers: int | None, max_speakers: int | None) -> Diarization:
    """Windows of speech labelled by speaker; the count is chosen by clustering within the bounds."""
    spans, vectors = _embedded(blocks)
    labels = cluster(vectors, min_speakers or 1, max_speakers or 16)
    turns = tuple(Turn(start, end, label) for (start, end), label in zip(spans, labels, strict=True))
    voices = []
    for label in range(max(labels, default=-1) + 1):
        mean = vectors[np.array(labels) == label].mean(axis=0)
        voices.append(tuple(float(x) for x in mean / max(float(np.linalg.norm(mean)), 1e-9)))
    return Diarization(turns, tuple(voices))


def voice_of(blocks: Iterator[audio.Samples]) -> tuple[tuple[float, ...], float]:
    """(voice vector, seconds of speech) of a clip of one person: its VAD speech, embedded whole."""
    samples = np.concatenate(list(blocks) or [np.zeros(0, dtype=np.float32)])
    regions = get_speech_timestamps(samples, _VAD, sampling_rate=audio.SAMPLE_RATE) if len(samples) else []
    speech = np.concatenate([samples[r["start"] : r["end"]] for r in regions] or [np.zeros(0, dtype=np.float32)])
    seconds = len(speech) / audio.SAMPLE_RATE
    if not len(speech):
        return (), 0.0
    return tuple(float(x) for x in voice_encoder.embed_utterance(speech)), seconds
