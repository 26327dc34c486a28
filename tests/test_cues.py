"""Readable subtitles: cues of at most 2 lines of 42 characters and 7 s, cut at words by their timings."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import CLIPS, Client, submit, wait_status
from tests.test_formats import Cue, parse_srt, parse_vtt
from transcriber.outputs.cues import CueLayout, cues, tokens
from transcriber.outputs.formats import to_srt, to_txt, to_vtt
from transcriber.outputs.transcript import Segment, Transcript, Word
from transcriber.setting_sections import SettingsError
from transcriber.settings import settings_from

_NAME = re.compile(r"^[A-Za-z][A-Za-z ]*: ")


def _words_of_txt(txt: str) -> list[str]:
    return [w for line in txt.splitlines() for w in _NAME.sub("", line).split()]


def _words_of_cues(found: list[Cue]) -> list[str]:
    # Only a cue's first line can carry the "Name: " prefix.
    return [w for _, _, text in found for w in _NAME.sub("", text).split()]


def _check_layout(found: list[Cue], layout: CueLayout, srt: bool = True) -> None:
    """srt shows "Name: " on the line, so it counts; vtt's <v Name> span (read back as "Name: ") does not."""
    for start, end, text in found:
        lines = (text if srt else _NAME.sub("", text)).split("\n")
        assert len(lines) <= layout.max_lines, text
        # A line may pass the limit only when it is one word too long to cut.
        for line in lines:
            assert len(line) <= layout.max_line_chars or " " not in _NAME.sub("", line), text
        assert end - start <= round(layout.max_cue_seconds * 1000) + 1, (start, end, text)  # ms rounding
    assert [c[0] for c in found] == sorted(c[0] for c in found)


_word_text = st.text(alphabet="abcdefghijklmnopqrstuvwxyzÀжё',.?!", min_size=1, max_size=14)
_layouts = st.builds(
    CueLayout,
    max_line_chars=st.integers(1, 60),
    max_lines=st.integers(1, 4),
    max_cue_seconds=st.floats(0.5, 12.0),
)


@st.composite
def spoken(draw: st.DrawFn) -> Transcript:
    """A transcript as the engine gives it: ordered segments, Whisper-style words (" word") timed inside."""
    segments, at = [], 0.0
    voices: list[str | None] = draw(st.sampled_from([[None], ["Anna", "Boris"]]))  # diarized: all have one
    for _ in range(draw(st.integers(0, 6))):
        words, start = [], at
        for _ in range(draw(st.integers(0, 40))):
            text, length = draw(_word_text), draw(st.floats(0.0, 2.5))
            words.append(Word(at, at + length, f" {text}", 0.9))
            at += length + draw(st.floats(0.0, 1.0))
        speaker = draw(st.sampled_from(voices))
        text = "".join(w.word for w in words)
        segments.append(Segment(start, at, text, tuple(words) if draw(st.booleans()) else None, speaker=speaker))
        at += draw(st.floats(0.0, 3.0))
    return Transcript("en", 1.0, at, tuple(segments))


@given(spoken(), _layouts)
@settings(max_examples=100)
def test_the_words_of_the_cues_are_the_words_of_the_txt(t: Transcript, layout: CueLayout) -> None:
    txt_words = _words_of_txt(to_txt(t))
    for found, srt in ((parse_srt(to_srt(t, layout)), True), (parse_vtt(to_vtt(t, layout)), False)):
        assert _words_of_cues(found) == txt_words
        _check_layout(found, layout, srt)


@given(spoken())
def test_default_cues_are_readable(t: Transcript) -> None:
    _check_layout(parse_srt(to_srt(t)), CueLayout())
    _check_layout(parse_vtt(to_vtt(t)), CueLayout(), srt=False)


def test_a_long_fast_segment_becomes_short_cues() -> None:
    # The case: a minute of fast speech came back as a 29 s cue of 85 words on one line.
    words = tuple(Word(i * 0.34, i * 0.34 + 0.3, f" word{i}", 0.9) for i in range(85))
    t = Transcript("en", 1.0, 30.0, (Segment(0.0, 29.0, "".join(w.word for w in words), words),))
    found = parse_srt(to_srt(t))
    assert len(found) >= 6
    _check_layout(found, CueLayout())
    assert " ".join(_words_of_cues(found)) == " ".join(w.word.strip() for w in words)


def test_cue_times_follow_the_word_timings() -> None:
    words = (Word(1.0, 1.5, " Hello", 0.9), Word(1.5, 2.0, " there.", 0.9), Word(9.0, 9.8, " Later", 0.9))
    t = Transcript("en", 1.0, 10.0, (Segment(0.5, 10.0, " Hello there. Later", words),))
    assert parse_srt(to_srt(t)) == [(1000, 2000, "Hello there."), (9000, 9800, "Later")]


def test_word_timings_that_do_not_spell_the_text_are_spread_by_characters() -> None:
    # The loop clean-up may shorten a segment's text; its word timings then no longer line up.
    words = (Word(0.0, 1.0, " a", 0.9), Word(1.0, 2.0, " b", 0.9))
    seg = Segment(0.0, 4.0, " aaa bbb", words)
    assert [(tok.text, tok.start, tok.end) for tok in tokens(seg)] == [("aaa", 0.0, 2.0), ("bbb", 2.0, 4.0)]


def test_punctuation_words_stay_with_their_word() -> None:
    words = (Word(0.0, 0.5, " Hi", 0.9), Word(0.5, 0.6, ",", 0.9), Word(0.7, 1.2, " you", 0.9))
    assert [(x.text, x.end) for x in tokens(Segment(0.0, 1.2, " Hi, you", words))] == [("Hi,", 0.6), ("you", 1.2)]


def test_a_speaker_change_starts_a_new_cue_and_vtt_names_the_voice() -> None:
    t = Transcript(
        "en",
        1.0,
        4.0,
        (Segment(0.0, 1.0, " Hi.", speaker="Anna"), Segment(1.0, 2.0, " Hello & bye.", speaker="Boris")),
    )
    assert to_vtt(t).endswith(
        "1\n00:00:00.000 --> 00:00:01.000\n<v Anna>Hi.\n\n2\n00:00:01.000 --> 00:00:02.000\n<v Boris>Hello &amp; bye.\n"
    )
    assert parse_srt(to_srt(t)) == [(0, 1000, "Anna: Hi."), (1000, 2000, "Boris: Hello & bye.")]
    assert [c.speaker for c in cues(t.segments, CueLayout())] == ["Anna", "Boris"]


def test_output_settings_are_read_and_checked(tmp_path: Path) -> None:
    raw = {"output": {"max_line_chars": 32, "max_lines": 1, "max_cue_seconds": 4.5}}
    output = settings_from(raw, {}, base_dir=tmp_path).output
    assert (output.max_line_chars, output.max_lines, output.max_cue_seconds) == (32, 1, 4.5)
    assert settings_from({}, {}, base_dir=tmp_path).output.max_line_chars == 42
    for bad in ({"max_lines": 0}, {"max_cue_seconds": 0}, {"max_line_chars": -1}):
        with pytest.raises(SettingsError):
            settings_from({"output": bad}, {}, base_dir=tmp_path)


async def test_real_speech_gives_readable_cues_without_words_in_the_json(make_client, tiny_engine) -> None:  # type: ignore[no-untyped-def]
    layout = CueLayout(max_line_chars=24, max_lines=2, max_cue_seconds=3.0)
    client: Client = await make_client(
        tiny_engine, output={"max_line_chars": 24, "max_lines": 2, "max_cue_seconds": 3.0}
    )
    job = await submit(client, CLIPS / "speech.ogg")
    assert (await wait_status(client, job["job_id"]))["status"] == "completed"
    base = f"/jobs/{job['job_id']}/transcript"
    txt, srt, vtt = [await (await client.get(f"{base}.{fmt}")).text() for fmt in ("txt", "srt", "vtt")]
    document = json.loads(await (await client.get(f"{base}.json")).text())
    assert all("words" not in s for s in document["segments"])  # not asked for, so not shown
    for found in (parse_srt(srt), parse_vtt(vtt)):
        assert len(found) > len(document["segments"])  # a segment of 20 words is several cues
        assert _words_of_cues(found) == _words_of_txt(txt)
        _check_layout(found, layout)
