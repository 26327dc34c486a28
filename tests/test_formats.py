"""Tests for the txt/srt/vtt/json renderers, with strict parsers that read the output back."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transcriber.outputs.formats import (
    DEFAULT_LAYOUT,
    FORMATS,
    MAX_SECONDS,
    to_json,
    to_srt,
    to_txt,
    to_vtt,
)
from transcriber.outputs.transcript import Segment, Transcript, Word

Cue = tuple[int, int, str]


def _timing(sep: str) -> re.Pattern[str]:
    stamp = r"(\d{2,}):([0-5]\d):([0-5]\d)" + re.escape(sep) + r"(\d{3})"
    return re.compile(f"^{stamp} --> {stamp}$")


_SRT_TIMING = _timing(",")
_VTT_TIMING = _timing(".")
_VTT_ENTITY = re.compile(r"&(amp|lt|gt);")
# A speaker's cue opens with a WebVTT voice span; read back, it is "Name: ", as the srt writes it.
_VOICE = re.compile(r"^<v ([^<>]+)>")


def _millis(groups: tuple[str, ...]) -> int:
    h, m, s, ms = (int(g) for g in groups)
    return ((h * 60 + m) * 60 + s) * 1000 + ms


def _parse_cue(lines: list[str], timing: re.Pattern[str], number: int) -> Cue:
    """One cue: its number, one timing line, then at least one line of text."""
    assert len(lines) >= 3, lines
    assert lines[0] == str(number), lines
    match = timing.match(lines[1])
    assert match, lines[1]
    start, end = _millis(match.groups()[:4]), _millis(match.groups()[4:])
    assert all(line and "-->" not in line for line in lines[2:]), lines
    return start, end, "\n".join(lines[2:])


def _blocks(body: str) -> list[list[str]]:
    # Split on "\n" only: the renderers promise that no other line break reaches a cue.
    if not body:
        return []
    assert body.endswith("\n") and not body.endswith("\n\n"), repr(body[-20:])
    return [block.split("\n") for block in body[:-1].split("\n\n")]


def parse_srt(document: str) -> list[Cue]:
    blocks = _blocks(document)
    return [_parse_cue(b, _SRT_TIMING, n) for n, b in enumerate(blocks, start=1)]


def _vtt_unescape(text: str) -> str:
    assert "<" not in text and ">" not in text, text
    assert "&" not in _VTT_ENTITY.sub("", text), text
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def parse_vtt(document: str) -> list[Cue]:
    assert document.startswith("WEBVTT\n"), document[:20]
    body = document.removeprefix("WEBVTT\n")
    if not body:
        return []
    assert body.startswith("\n"), repr(body[:20])
    blocks = _blocks(body[1:])
    cues = [_parse_cue(b, _VTT_TIMING, n) for n, b in enumerate(blocks, start=1)]
    return [(start, end, _vtt_unescape(_VOICE.sub(r"\1: ", text))) for start, end, text in cues]


def expected_text(text: str) -> str:
    """The normalisation the cue renderers promise: words split at whitespace, no arrow."""
    return " ".join(re.sub(r"-{2,}>", "->", word) for word in text.split())


def cue_words(cues: list[Cue]) -> str:
    """The words of a run of cues, whatever their line breaks."""
    return " ".join(" ".join(text.split()) for _, _, text in cues)


def _transcript(*segments: Segment, **kwargs: Any) -> Transcript:
    fields: dict[str, Any] = {"language": "en", "language_probability": 0.98, "duration": 10.0}
    fields.update(kwargs)
    return Transcript(segments=segments, **fields)


def _check_well_formed(cues: list[Cue]) -> None:
    starts = [start for start, _, _ in cues]
    assert starts == sorted(starts)
    assert all(0 <= start <= end for start, end, _ in cues)


# --- examples -----------------------------------------------------------------------------


def test_srt_example() -> None:
    t = _transcript(Segment(0.0, 1.5, " Hello there."), Segment(1.5, 3.25, " General Kenobi!"))
    assert to_srt(t) == (
        "1\n00:00:00,000 --> 00:00:01,500\nHello there.\n\n2\n00:00:01,500 --> 00:00:03,250\nGeneral Kenobi!\n"
    )


def test_vtt_example() -> None:
    t = _transcript(Segment(0.0, 1.5, " Hello there."))
    assert to_vtt(t) == "WEBVTT\n\n1\n00:00:00.000 --> 00:00:01.500\nHello there.\n"


def test_txt_one_line_per_segment() -> None:
    t = _transcript(Segment(0, 1, " One."), Segment(1, 2, "  "), Segment(2, 3, " Two\nlines."))
    assert to_txt(t) == "One.\nTwo lines.\n"


@pytest.mark.parametrize(
    ("seconds", "stamp"),
    [
        (59.9996, "00:01:00,000"),
        (59.9994, "00:00:59,999"),
        (0.0005, "00:00:00,000"),
        (3599.9999, "01:00:00,000"),
        (1.001, "00:00:01,001"),
        (100 * 3600 + 61.5, "100:01:01,500"),
        (-3.0, "00:00:00,000"),
        (1e300, "1000000:00:00,000"),
        (math.nan, "00:00:00,000"),
        (math.inf, "00:00:00,000"),
    ],
)
def test_srt_time_rounding_and_clamping(seconds: float, stamp: str) -> None:
    t = _transcript(Segment(seconds, seconds, "x"))
    assert to_srt(t).split("\n")[1] == f"{stamp} --> {stamp}"
    assert to_vtt(t).split("\n")[3] == f"{stamp} --> {stamp}".replace(",", ".")


def test_empty_transcript() -> None:
    t = _transcript(duration=0.0)
    assert to_txt(t) == ""
    assert to_srt(t) == ""
    assert to_vtt(t) == "WEBVTT\n"
    assert json.loads(to_json(t))["segments"] == []


def test_empty_segments_are_not_cues_but_stay_in_json() -> None:
    t = _transcript(Segment(0, 1, ""), Segment(1, 2, " Real."), Segment(2, 3, " \n "))
    assert parse_srt(to_srt(t)) == [(1000, 2000, "Real.")]
    assert parse_vtt(to_vtt(t)) == [(1000, 2000, "Real.")]
    assert len(json.loads(to_json(t))["segments"]) == 3


def test_arrows_and_blank_lines_cannot_break_cues() -> None:
    t = _transcript(Segment(0, 1, "a --> b\n\n2\n00:00:00,000 --> 00:00:09,000\nc ---> d <i> & e"))
    cues = parse_srt(to_srt(t))
    assert [c[:2] for c in cues] == [(0, 1000)]
    assert cue_words(cues) == "a -> b 2 00:00:00,000 -> 00:00:09,000 c -> d <i> & e"
    assert "&lt;i&gt; &amp; e" in to_vtt(t)
    assert cue_words(parse_vtt(to_vtt(t))).endswith("c -> d <i> & e")


def test_unsorted_or_reversed_times_become_monotone() -> None:
    t = _transcript(Segment(5, 4, "a"), Segment(2, 3, "b"), Segment(6, 7, "c"))
    assert [c[:2] for c in parse_srt(to_srt(t))] == [(5000, 5000), (5000, 5000), (6000, 7000)]


def test_russian_text_survives() -> None:
    text = " Привет, мир! Съешь же ещё этих мягких французских булок."
    t = _transcript(Segment(0, 2, text), language="ru")
    lines = "Привет, мир! Съешь же ещё этих мягких\nфранцузских булок."  # 42 characters at most
    assert parse_srt(to_srt(t))[0][2] == lines
    assert parse_vtt(to_vtt(t))[0][2] == lines
    assert to_txt(t) == text.strip() + "\n"
    assert "Привет" in to_json(t)  # readable, not \u escapes
    assert to_json(t).encode("utf-8").decode("utf-8") == to_json(t)


def test_json_document_shape() -> None:
    words = (Word(0.0, 0.4, " Hi", 0.91234), Word(0.4, 0.9, " you", math.nan))
    t = _transcript(
        Segment(0.0, 0.9, " Hi you", words),
        Segment(0.9, 2.0, " Bye"),
        settings={"beam_size": 5, "temperature": math.nan, "path": object()},
        provenance={"model": "tiny.en"},
        duration=14.683875,
    )
    doc = json.loads(to_json(t))
    assert doc["duration"] == 14.683875  # exact, so it matches the unrounded /status value
    assert set(doc) == {
        "language",
        "language_probability",
        "languages",
        "duration",
        "text",
        "segments",
        "settings",
        "provenance",
    }
    assert doc["text"] == "Hi you Bye"
    assert doc["segments"][0]["words"][0] == {
        "start": 0.0,
        "end": 0.4,
        "word": " Hi",
        "probability": 0.9123,
    }
    assert doc["segments"][0]["words"][1]["probability"] is None
    assert "words" not in doc["segments"][1]
    assert [s["id"] for s in doc["segments"]] == [0, 1]
    assert doc["settings"]["temperature"] is None
    assert isinstance(doc["settings"]["path"], str)
    assert doc["provenance"] == {"model": "tiny.en"}


def test_registry_covers_every_format() -> None:
    assert list(FORMATS) == ["txt", "srt", "vtt", "json"]
    assert all(name == fmt.name and "charset=utf-8" in fmt.content_type for name, fmt in FORMATS.items())
    t = _transcript(Segment(0, 1, "x"))
    assert all(isinstance(fmt.render(t, DEFAULT_LAYOUT), str) for fmt in FORMATS.values())


# --- properties ---------------------------------------------------------------------------

_texts = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="ab -->\n\r\t<&;\u2028Ёё", max_size=20),
)
_any_time = st.floats(allow_nan=True, allow_infinity=True, width=64)
_real_time = st.floats(min_value=0, max_value=400_000, allow_nan=False)


@st.composite
def sorted_segments(draw: st.DrawFn) -> tuple[Segment, ...]:
    """Segments as the engine produces them: ordered, each ending after it starts."""
    texts = draw(st.lists(_texts, max_size=12))
    times = sorted(draw(st.lists(_real_time, min_size=2 * len(texts), max_size=2 * len(texts))))
    return tuple(Segment(times[2 * i], times[2 * i + 1], text) for i, text in enumerate(texts))


_words = st.lists(st.builds(Word, _any_time, _any_time, st.text(max_size=8), _any_time))
_segments = st.builds(Segment, _any_time, _any_time, _texts, st.one_of(st.none(), _words.map(tuple)))
_transcripts = st.builds(
    Transcript,
    language=st.one_of(st.none(), st.sampled_from(["en", "ru"])),
    language_probability=st.one_of(st.none(), _any_time),
    duration=_any_time,
    segments=st.lists(_segments, max_size=8).map(tuple),
)


@given(sorted_segments())
@settings(max_examples=300)
def test_cues_keep_words_and_stay_inside_their_segment(segments: tuple[Segment, ...]) -> None:
    for segment in segments:
        cues = parse_srt(to_srt(_transcript(segment)))
        assert cue_words(cues) == expected_text(segment.text)
        for start, end, _ in cues:
            assert round(segment.start * 1000) <= start <= end <= round(segment.end * 1000) + 1
    t = _transcript(*segments)
    want = " ".join(expected_text(s.text) for s in segments if expected_text(s.text))
    assert cue_words(parse_srt(to_srt(t))) == want
    assert cue_words(parse_vtt(to_vtt(t))) == want


@given(_transcripts)
@settings(max_examples=300)
def test_any_transcript_renders_well_formed(t: Transcript) -> None:
    texts = " ".join(expected_text(s.text) for s in t.segments if expected_text(s.text))
    for cues in (parse_srt(to_srt(t)), parse_vtt(to_vtt(t))):
        assert cue_words(cues) == texts
        assert all("-->" not in text for _, _, text in cues)
        _check_well_formed(cues)


@given(_transcripts)
@settings(max_examples=300)
def test_json_round_trips(t: Transcript) -> None:
    doc = json.loads(to_json(t))
    assert doc["text"] == t.text
    assert 0 <= doc["duration"] <= MAX_SECONDS
    assert [s["text"] for s in doc["segments"]] == [s.text for s in t.segments]
    for seg, back in zip(t.segments, doc["segments"], strict=True):
        assert ("words" in back) == bool(seg.words)
        assert [w["word"] for w in back.get("words", [])] == [w.word for w in seg.words or ()]
        assert back["start"] >= 0 and back["end"] >= 0
        assert math.isfinite(back["start"]) and math.isfinite(back["end"])
        if math.isfinite(seg.start) and seg.start >= 0:
            want = min(seg.start, MAX_SECONDS)
            assert back["start"] == pytest.approx(want, abs=0.0005, rel=1e-12)


@given(_transcripts)
def test_txt_contains_every_segment(t: Transcript) -> None:
    out = to_txt(t)
    lines = out.split("\n")
    assert out == "" or (out.endswith("\n") and lines[-1] == "")
    for seg in t.segments:
        assert " ".join(seg.text.split()) in out
