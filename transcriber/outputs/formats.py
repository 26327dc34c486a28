"""Render a finished Transcript as the txt, srt, vtt and json result files (pure functions)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from transcriber.outputs.cues import Cue, CueLayout, cues
from transcriber.outputs.speakers import speaker_seconds
from transcriber.outputs.transcript import Segment, Transcript, Word, turns

# Any run of two or more dashes before ">" would still read as a cue arrow once a
# single "-->" inside it was replaced, so the whole run is rewritten at once.
_ARROW = re.compile(r"-{2,}>")


DEFAULT_LAYOUT = CueLayout()

# No recording lasts a million hours; the cap keeps absurd engine values from overflowing
# the integer conversion while leaving every real timestamp untouched.
MAX_SECONDS = 3600.0 * 1_000_000


def clean_seconds(value: float) -> float:
    """Seconds made safe to write: NaN, infinite and negative become 0, absurd ones are capped."""
    if not math.isfinite(value) or value < 0:
        return 0.0
    return min(value, MAX_SECONDS)


def to_millis(seconds: float) -> int:
    """Whole milliseconds, rounded once so 59.9996 s becomes 60000 and never 59 s + 1000 ms."""
    return round(clean_seconds(seconds) * 1000)


def cue_text(text: str) -> str:
    """One-line text that cannot end a cue early or fake a timing line."""
    # str.split() without arguments also splits on \r, \u2028, \x85 and the other
    # Unicode line breaks that a subtitle parser may treat as the end of a line.
    return _ARROW.sub("->", " ".join(text.split()))


def _clock(millis: int, fraction_sep: str) -> str:
    # Hours keep growing past 99 instead of wrapping, so a long recording stays ordered.
    seconds, ms = divmod(millis, 1000)
    minutes, sec = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours:02d}:{minute:02d}:{sec:02d}{fraction_sep}{ms:03d}"


def _cues(t: Transcript, layout: CueLayout, lead: bool) -> Iterator[tuple[int, int, Cue]]:
    """(start_ms, end_ms, cue) for each readable cue, in a player-safe order."""
    previous_start = 0
    for cue in cues(t.named_segments(), layout, lead):
        # Players expect cues sorted and never ending before they start.
        start = max(to_millis(cue.start), previous_start)
        end = max(to_millis(cue.end), start)
        previous_start = start
        yield start, end, cue


def _lines(cue: Cue) -> list[str]:
    # Tokens hold no whitespace, so only an arrow inside a word needs rewriting.
    return [cue_text(line) for line in cue.lines]


def to_txt(t: Transcript, layout: CueLayout = DEFAULT_LAYOUT) -> str:
    """Plain text, one segment per line (a dialogue: one "Speaker: ..." line per turn); empty when nothing was said."""
    if any(s.speaker for s in t.segments):
        return "".join(f"{' '.join(speaker.split())}: {text}\n" for speaker, text in turns(t.named_segments()))
    lines = [" ".join(s.text.split()) for s in t.segments]
    return "".join(f"{line}\n" for line in lines if line)


def to_srt(t: Transcript, layout: CueLayout = DEFAULT_LAYOUT) -> str:
    """SubRip: numbered cues with HH:MM:SS,mmm times, separated by blank lines ("Name: " on a speaker's)."""
    blocks = [
        f"{n}\n{_clock(start, ',')} --> {_clock(end, ',')}\n{_srt_text(cue)}\n"
        for n, (start, end, cue) in enumerate(_cues(t, layout, lead=True), start=1)
    ]
    return "\n".join(blocks)


def _srt_text(cue: Cue) -> str:
    lines = _lines(cue)
    if cue.speaker:
        lines[0] = f"{cue_text(cue.speaker)}: {lines[0]}"
    return "\n".join(lines)


def _vtt_escape(text: str) -> str:
    # In WebVTT cue text "<" opens a tag and "&" an entity, so both must be escaped.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(t: Transcript, layout: CueLayout = DEFAULT_LAYOUT) -> str:
    """WebVTT: the header, then numbered cues with HH:MM:SS.mmm times (a speaker's in a <v Name> span)."""
    blocks = [
        f"\n{n}\n{_clock(start, '.')} --> {_clock(end, '.')}\n{_vtt_text(cue)}\n"
        for n, (start, end, cue) in enumerate(_cues(t, layout, lead=False), start=1)
    ]
    return "WEBVTT\n" + "".join(blocks)


def _vtt_text(cue: Cue) -> str:
    text = "\n".join(_vtt_escape(line) for line in _lines(cue))
    return f"<v {_vtt_escape(cue_text(cue.speaker))}>{text}" if cue.speaker else text


def _seconds(value: float) -> float:
    return to_millis(value) / 1000


def _probability(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, 4)


def _word_json(w: Word) -> dict[str, Any]:
    body: dict[str, Any] = {
        "start": _seconds(w.start),
        "end": _seconds(w.end),
        "word": w.word,
        "probability": _probability(w.probability),
    }
    if w.speaker is not None:
        body["speaker"] = w.speaker
    return body


def _segment_json(index: int, s: Segment, words: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": index,
        "start": _seconds(s.start),
        "end": _seconds(s.end),
        "text": s.text,
    }
    if s.language is not None:
        body["language"] = s.language
    if s.speaker is not None:
        body["speaker"] = s.speaker
    if s.words and words:
        body["words"] = [_word_json(w) for w in s.words]
    if s.decoding is not None:
        body["decoding"] = _json_safe(asdict(s.decoding))
    return body


def _json_safe(value: Any) -> Any:
    # Settings and provenance come from callers; NaN or a Path there must not make the
    # finished job unwritable, so non-finite floats become null and unknown objects text.
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, str | int):
        return value
    return str(value)


def to_json(t: Transcript, layout: CueLayout = DEFAULT_LAYOUT) -> str:
    """The whole transcript as one UTF-8 JSON document (ids count segments from 0)."""
    document: dict[str, Any] = {
        "language": t.language,
        "language_probability": _probability(t.language_probability),
        "languages": list(t.languages),
        # Not rounded: it is the decoded audio length, which /status reports unrounded too.
        "duration": clean_seconds(t.duration),
        "text": t.text,
        "segments": [_segment_json(i, s, t.show_words or t.diarized) for i, s in enumerate(t.segments)],
        "settings": _json_safe(t.settings),
        "provenance": _json_safe(t.provenance),
    }
    if t.diarized:  # who is who: ids on segments and words, names here
        seconds = speaker_seconds(t.segments)
        document["speakers"] = [{"id": k, "name": t.speaker_names.get(k, k), "seconds": v} for k, v in seconds.items()]
    return json.dumps(document, ensure_ascii=False, allow_nan=False, indent=2) + "\n"


@dataclass(frozen=True)
class OutputFormat:
    """One result format: its file extension, what it is served as, and how it is rendered."""

    name: str
    content_type: str
    render: Callable[[Transcript, CueLayout], str]


# The one registry of output formats: result files, download routes and CLI choices read it.
FORMATS: dict[str, OutputFormat] = {
    f.name: f
    for f in (
        OutputFormat("txt", "text/plain; charset=utf-8", to_txt),
        OutputFormat("srt", "application/x-subrip; charset=utf-8", to_srt),
        OutputFormat("vtt", "text/vtt; charset=utf-8", to_vtt),
        OutputFormat("json", "application/json; charset=utf-8", to_json),
    )
}
