"""Readable subtitle cues: a segment's words cut into cues of few short lines and few seconds (pure)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from transcriber.outputs.transcript import Segment, Word


@dataclass(frozen=True)
class CueLayout:
    """The limits a subtitle cue keeps to (the defaults are the usual broadcast guidelines)."""

    max_line_chars: int = 42
    max_lines: int = 2
    max_cue_seconds: float = 7.0


@dataclass(frozen=True)
class Token:
    """One whitespace-separated word of a segment's text with the time it was said."""

    text: str
    start: float
    end: float


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]
    speaker: str | None = None


def tokens(segment: Segment) -> list[Token]:
    """The words of the segment's text (exactly its whitespace split), each timed.

    Times come from the decoder's word timings when they spell the same text; otherwise (no
    timings, or a cleaned-up text) they are spread over the segment by character count.
    """
    texts = segment.text.split()
    if not texts:
        return []
    timed = _from_words(texts, segment.words or ())
    return timed if timed is not None else _spread(texts, segment.start, segment.end)


def _from_words(texts: list[str], words: Sequence[Word]) -> list[Token] | None:
    # Whisper's words are sub-strings of the text with their own spacing ("Hello", ",", " world"),
    # so they are matched character by character, ignoring whitespace.
    chars = [(w.start, w.end) for w in words for c in w.word if not c.isspace()]
    if not chars or len(chars) != sum(len(t) for t in texts):
        return None
    if "".join(c for w in words for c in w.word if not c.isspace()) != "".join(texts):
        return None
    result, at = [], 0
    for text in texts:
        first, last = chars[at], chars[at + len(text) - 1]
        result.append(Token(text, first[0], max(first[0], last[1])))
        at += len(text)
    return result


def _spread(texts: list[str], start: float, end: float) -> list[Token]:
    total = sum(len(t) + 1 for t in texts)
    span = max(0.0, end - start)
    result, done = [], 0
    for text in texts:
        begin = start + span * done / total
        done += len(text) + 1
        result.append(Token(text, begin, start + span * done / total))
    return result


def segment_cues(segment: Segment, layout: CueLayout, lead_chars: int = 0) -> Iterator[Cue]:
    """The segment's cues: a new line past max_line_chars, a new cue past max_lines or max_cue_seconds.

    lead_chars is room kept on each cue's first line (an srt "Name: " prefix). A word longer than
    a line gets a line of its own: words are never cut.
    """
    lines: list[list[Token]] = []
    for token in tokens(segment):
        if lines and _too_long(lines, token, layout):
            yield _cue(lines, segment, layout)
            lines = []
        if not lines or _width(lines[-1], lead_chars if len(lines) == 1 else 0) + 1 + len(token.text) > max(
            layout.max_line_chars, 1
        ):
            if lines and len(lines) >= max(layout.max_lines, 1):
                yield _cue(lines, segment, layout)
                lines = []
            lines.append([])
        lines[-1].append(token)
    if lines:
        yield _cue(lines, segment, layout)


def _width(line: list[Token], lead: int) -> int:
    # An empty line reads as -1 so that its first word always fits: "width + 1 + word".
    return lead + sum(len(t.text) for t in line) + len(line) - 1 if line else -1


def _too_long(lines: list[list[Token]], token: Token, layout: CueLayout) -> bool:
    return token.end - lines[0][0].start > layout.max_cue_seconds


def _cue(lines: list[list[Token]], segment: Segment, layout: CueLayout) -> Cue:
    start, end = lines[0][0].start, lines[-1][-1].end
    end = min(max(end, start), start + layout.max_cue_seconds)
    return Cue(start, end, tuple(" ".join(t.text for t in line) for line in lines), segment.speaker)


def cues(segments: Sequence[Segment], layout: CueLayout, lead: bool = False) -> Iterator[Cue]:
    """Every segment's cues in order; lead keeps room for a "Speaker: " prefix on first lines."""
    for segment in segments:
        room = len(" ".join((segment.speaker or "").split())) + 2 if lead and segment.speaker else 0
        yield from segment_cues(segment, layout, room)
