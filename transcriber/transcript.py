"""The transcript data model shared by the engine, the result formats and the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Word:
    start: float
    end: float
    word: str
    probability: float


@dataclass(frozen=True, slots=True)
class Decoding:
    """What the decoder reported for a segment; OpenAI's verbose_json shows these to clients."""

    seek: int
    tokens: tuple[int, ...]
    temperature: float
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float


@dataclass(frozen=True, slots=True)
class Segment:
    start: float
    end: float
    text: str
    words: tuple[Word, ...] | None = None
    decoding: Decoding | None = None


@dataclass(frozen=True, slots=True)
class Transcript:
    """A finished transcription: segments plus what produced them."""

    language: str | None
    language_probability: float | None
    duration: float
    segments: tuple[Segment, ...]
    settings: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return join_text(self.segments)


def join_text(segments: tuple[Segment, ...] | list[Segment]) -> str:
    """Full text of segments, as Whisper's leading spaces would join them, trimmed."""
    return " ".join(s.text.strip() for s in segments if s.text.strip())
