"""Speakers given to words by their timing, segments split where the speaker changes (pure)."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, replace

from transcriber.outputs.transcript import Segment, Word


@dataclass(frozen=True)
class Turn:
    """A stretch of audio one speaker (a cluster label) was heard in."""

    start: float
    end: float
    label: int


class Timeline:
    """Which label speaks at a moment: the window whose middle is nearest, among those covering it."""

    def __init__(self, turns: Sequence[Turn]):
        self._turns = sorted(turns, key=lambda t: (t.start + t.end) / 2)
        self._middles = [(t.start + t.end) / 2 for t in self._turns]

    def label_at(self, start: float, end: float) -> int | None:
        if not self._turns:
            return None
        moment = (start + end) / 2
        at = bisect.bisect_left(self._middles, moment)
        near = [i for i in (at - 1, at) if 0 <= i < len(self._turns)]
        return self._turns[min(near, key=lambda i: abs(self._middles[i] - moment))].label


def assign(segments: Sequence[Segment], turns: Sequence[Turn]) -> tuple[list[Segment], dict[int, str]]:
    """Each word gets the speaker heard at its time; a segment is cut where that changes.

    Labels become ids S1, S2, ... in order of first appearance (returned: label -> id). A segment whose word timings do
    not spell its text (or that has none) keeps its text whole, with the speaker of its middle.
    """
    timeline = Timeline(turns)
    ids: dict[int, str] = {}

    def name(label: int | None) -> str:
        key = -1 if label is None else label
        return ids.setdefault(key, f"S{len(ids) + 1}")

    result: list[Segment] = []
    for segment in segments:
        words = segment.words or ()
        if not words or "".join(w.word for w in words).split() != segment.text.split():
            speaker = name(timeline.label_at(segment.start, segment.end))
            result.append(replace(segment, speaker=speaker, words=_label(words, speaker)))
            continue
        labelled = [replace(w, speaker=name(timeline.label_at(w.start, w.end))) for w in words]
        result.extend(_split(segment, labelled))
    return result, ids


def _label(words: Sequence[Word], speaker: str) -> tuple[Word, ...] | None:
    return tuple(replace(w, speaker=speaker) for w in words) or None


def _split(segment: Segment, words: list[Word]) -> list[Segment]:
    groups: list[list[Word]] = []
    for word in words:
        if groups and groups[-1][-1].speaker == word.speaker:
            groups[-1].append(word)
        else:
            groups.append([word])
    if len(groups) == 1:
        return [replace(segment, speaker=words[0].speaker, words=tuple(words))]
    return [
        replace(
            segment,
            start=group[0].start if i else segment.start,
            end=group[-1].end if i < len(groups) - 1 else segment.end,
            text="".join(w.word for w in group),
            words=tuple(group),
            speaker=group[0].speaker,
        )
        for i, group in enumerate(groups)
    ]


def speaker_seconds(segments: Sequence[Segment]) -> dict[str, float]:
    """Seconds each speaker talks (by words, else by segments), in order of first appearance."""
    seconds: dict[str, float] = {}
    for segment in segments:
        if segment.speaker is None:
            continue
        spoken = sum(max(0.0, w.end - w.start) for w in segment.words or ()) or max(0.0, segment.end - segment.start)
        seconds[segment.speaker] = round(seconds.get(segment.speaker, 0.0) + spoken, 2)
    return seconds
