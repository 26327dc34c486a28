"""The transcript data model shared by the engine, the result formats and the store."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class Word:
    start: float
    end: float
    word: str
    probability: float
    speaker: str | None = None  # diarized jobs: the id of who said it


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
    language: str | None = None  # detected per stretch of speech when the job gave none
    speaker: str | None = None  # channel_0 / channel_1 or a given name, with channels=split
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
    # Word timings are always decoded (subtitle cues are cut by them); the JSON shows them when asked.
    show_words: bool = True
    # Diarized jobs: speaker id -> the name shown in txt/srt/vtt (renamed by PATCH /jobs/{id}/speakers).
    speaker_names: dict[str, str] = field(default_factory=dict)
    # Diarized jobs: speaker id -> its GE2E voice vector (kept in the job row, for enrolling voices).
    speaker_voices: dict[str, tuple[float, ...]] = field(default_factory=dict)

    @property
    def diarized(self) -> bool:
        return bool(self.speaker_names)

    def named_segments(self) -> tuple[Segment, ...]:
        """The segments with each speaker id shown by its name (split calls already carry names)."""
        if not self.speaker_names:
            return self.segments
        names = self.speaker_names
        return tuple(replace(s, speaker=names.get(s.speaker, s.speaker)) if s.speaker else s for s in self.segments)

    @property
    def text(self) -> str:
        """Plain text, or "Speaker: words" lines, one per turn, when segments carry speakers."""
        if any(s.speaker for s in self.segments):
            return "\n".join(f"{speaker}: {words}" for speaker, words in turns(self.named_segments()))
        return join_text(self.segments)

    @property
    def languages(self) -> tuple[str, ...]:
        """Distinct segment languages in order of first appearance (the job's one if none)."""
        found = dict.fromkeys(s.language for s in self.segments if s.language)
        if not found and self.language:
            return (self.language,)
        return tuple(found)


def join_text(segments: tuple[Segment, ...] | list[Segment]) -> str:
    """Full text of segments, as Whisper's leading spaces would join them, trimmed."""
    return " ".join(s.text.strip() for s in segments if s.text.strip())


def turns(segments: tuple[Segment, ...] | list[Segment]) -> list[tuple[str, str]]:
    """(speaker, text) per turn: consecutive segments of one speaker joined into one line."""
    result: list[tuple[str, list[str]]] = []
    for segment in segments:
        text = " ".join(segment.text.split())
        if not text:
            continue
        speaker = segment.speaker or ""
        if result and result[-1][0] == speaker:
            result[-1][1].append(text)
        else:
            result.append((speaker, [text]))
    return [(speaker, " ".join(parts)) for speaker, parts in result]
