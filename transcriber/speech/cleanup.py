"""The post-check after decoding: collapse repetition loops and drop segments invented over silence."""

from __future__ import annotations

from dataclasses import dataclass, replace

from transcriber.outputs.transcript import Segment, Word

# A phrase of 2+ words said three times running is a decoder loop, not speech; a single word
# needs more (people do say "no, no, no").
PHRASE_REPEATS = 3
WORD_REPEATS = 5
MAX_PHRASE_WORDS = 12
# Whisper's own thresholds (faster-whisper defaults) judged per segment instead of per window.
MAX_COMPRESSION = 2.4
SILENT_NO_SPEECH = 0.6
SILENT_LOGPROB = -1.0


@dataclass(frozen=True)
class Scores:
    """What the decoder said about one segment."""

    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float

    def invented(self) -> bool:
        """Probably not speech: a silent window decoded unsurely, or text that compresses like a loop."""
        silent = self.no_speech_prob > SILENT_NO_SPEECH and self.avg_logprob < SILENT_LOGPROB
        return silent or self.compression_ratio > MAX_COMPRESSION


def collapse_loops(text: str) -> str:
    """Keep one copy of any phrase repeated back to back PHRASE_REPEATS or more times."""
    words = text.split()
    kept = kept_indices(words)
    if len(kept) == len(words):
        return text
    collapsed = " ".join(words[i] for i in kept)
    return " " + collapsed if text[:1] == " " else collapsed


def kept_indices(words: list[str]) -> list[int]:
    """Indices of the words that survive loop collapsing."""
    kept: list[int] = []
    i = 0
    while i < len(words):
        size, count = _longest_loop(words, i)
        i += size * (count - 1)  # the last copy keeps the punctuation that ends the phrase
        kept += range(i, i + size)
        i += size
    return kept


def _longest_loop(words: list[str], i: int) -> tuple[int, int]:
    """(phrase size, repeats) of the loop starting at i; (1, 1) when there is none."""
    for size in range(1, min(MAX_PHRASE_WORDS, (len(words) - i) // 2) + 1):  # a loop's period is its smallest unit
        unit = [_key(w) for w in words[i : i + size]]
        count = 1
        while [_key(w) for w in words[i + count * size : i + (count + 1) * size]] == unit:
            count += 1
        if count >= (PHRASE_REPEATS if size > 1 else WORD_REPEATS):
            return size, count
    return 1, 1


def _key(word: str) -> str:
    return "".join(c for c in word.casefold() if c.isalnum())


class Cleaner:
    """Applied to each segment as it is decoded, so live text and the result agree."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self._previous: list[str] = []
        self.dropped = 0

    def accept(self, segment: Segment, scores: Scores | None) -> Segment | None:
        """The segment as it should be kept, or None to drop it."""
        if not self.enabled:
            return segment
        if scores is not None and scores.invented():
            self.dropped += 1
            return None
        text = collapse_loops(segment.text)
        key = " ".join(_key(w) for w in text.split())
        # The same sentence decoded again right after itself: a loop across windows.
        if key and self._previous[-1:] == [key] and len(key.split()) >= 3:
            self.dropped += 1
            return None
        self._previous = [*self._previous[-3:], key]
        if text == segment.text:
            return segment
        return replace(segment, text=text, words=_kept_words(segment))


def _kept_words(segment: Segment) -> tuple[Word, ...] | None:
    """The word timings that go with the collapsed text, when they line up with its words."""
    if segment.words is None or len(segment.words) != len(segment.text.split()):
        return segment.words
    kept = kept_indices([w.word for w in segment.words])
    return tuple(segment.words[i] for i in kept)
