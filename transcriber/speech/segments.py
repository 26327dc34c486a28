"""faster-whisper's raw segments turned into ours, and the language a whole job is reported in."""

from __future__ import annotations

from typing import Any

from transcriber.outputs.transcript import Decoding, Segment, Word
from transcriber.speech.cleanup import Scores


def convert(raw: Any, offset: float, language: str | None) -> Segment:
    """Our Segment, moved by offset seconds, with its word timings (the JSON shows them when asked)."""
    words = None
    if raw.words is not None:
        words = tuple(Word(w.start + offset, w.end + offset, w.word, w.probability) for w in raw.words)
    return Segment(
        raw.start + offset, raw.end + offset, raw.text, words, language=language, decoding=_decoding(raw, offset)
    )


def _decoding(raw: Any, offset: float) -> Decoding:
    """The decoder's own figures; seek counts 10 ms frames from the start of the file, as Whisper's
    does within one chunk."""
    return Decoding(
        seek=raw.seek + round(offset * 100),
        tokens=tuple(raw.tokens),
        temperature=raw.temperature or 0.0,
        avg_logprob=raw.avg_logprob,
        compression_ratio=raw.compression_ratio,
        no_speech_prob=raw.no_speech_prob,
    )


def scores(raw: Any) -> Scores:
    return Scores(raw.avg_logprob, raw.no_speech_prob, raw.compression_ratio)


def remember(probabilities: dict[str, float], language: str | None, probability: float | None) -> None:
    """Keep the highest detection probability seen for each language."""
    if language is not None and probability is not None:
        probabilities[language] = max(probability, probabilities.get(language, 0.0))


def main_language(
    segments: list[Segment], requested: str | None, probabilities: dict[str, float]
) -> tuple[str | None, float | None]:
    """(language, probability) of the job: the requested one, else the one most of the speech is in."""
    if requested is not None:
        return requested, 1.0
    seconds: dict[str, float] = {}
    for seg in segments:
        if seg.language:
            seconds[seg.language] = seconds.get(seg.language, 0.0) + seg.end - seg.start
    if not seconds:
        return None, None
    language = max(seconds, key=lambda k: seconds[k])
    return language, probabilities.get(language)
