"""The pieces behind issue 13 without a model: loop collapsing, merging channels, speakers, dialogue formats."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from summarizer.extractive import summarize_extractive
from transcriber.domain.options import JobOptions, parse_options
from transcriber.errors import BadRequest
from transcriber.outputs.formats import to_json, to_srt, to_txt, to_vtt
from transcriber.outputs.transcript import Segment, Transcript, Word
from transcriber.speech.channels import merge
from transcriber.speech.cleanup import Cleaner, Scores, collapse_loops

LANGS = ("en", "de", "ru")
SURE = Scores(avg_logprob=-0.2, no_speech_prob=0.01, compression_ratio=1.3)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (" and the notice and the notice and the notice and the notice.", " and the notice."),
        ("Thank you. Thank you. Thank you. Thank you.", "Thank you."),
        ("no, no, no, no, no, no", "no"),
        ("ask not what your country can do for you, ask what you can do", None),  # real speech
        ("no, no, no", None),  # a word said three times is speech, not a loop
        ("the the", None),
    ],
)
def test_collapse_loops(text: str, expected: str | None) -> None:
    assert collapse_loops(text) == (text if expected is None else expected)


@given(st.lists(st.sampled_from(["a", "b", "c", "d."]), max_size=40))
def test_collapse_loops_only_removes_words_in_order(words: list[str]) -> None:
    out = collapse_loops(" ".join(words)).split()
    it = iter(words)
    assert all(w in it for w in out)  # a subsequence: nothing added, nothing reordered
    assert len(out) <= len(words) and (not words or out)


def test_cleaner_drops_invented_segments_and_cross_window_loops() -> None:
    cleaner = Cleaner()
    said = Segment(0, 2, " The above copyright notice is included.")
    assert cleaner.accept(said, SURE) == said
    assert cleaner.accept(Segment(2, 4, " The above copyright notice is included."), SURE) is None
    silent = Scores(avg_logprob=-1.4, no_speech_prob=0.9, compression_ratio=1.0)
    assert cleaner.accept(Segment(4, 6, " Thanks for watching!"), silent) is None
    loopy = Scores(avg_logprob=-0.3, no_speech_prob=0.1, compression_ratio=3.1)
    assert cleaner.accept(Segment(6, 8, " la la la"), loopy) is None
    words = tuple(Word(i, i + 0.5, w, 0.9) for i, w in enumerate([" go", " go", " go", " go", " go", " now"]))
    kept = cleaner.accept(Segment(8, 14, " go go go go go now", words), SURE)
    assert kept is not None and kept.text == " go now" and [w.word for w in kept.words or ()] == [" go", " now"]
    assert cleaner.dropped == 3
    assert Cleaner(enabled=False).accept(said, silent) == said


def test_merge_orders_by_time_and_labels_each_channel() -> None:
    left = [Segment(0.0, 2.0, " Hello."), Segment(5.0, 6.0, " Fine.")]
    right = [Segment(2.5, 4.0, " Hi."), Segment(5.0, 5.5, " Same time.")]
    merged = merge([left, right], ["Ann", "Bob"])
    assert [(s.speaker, s.text) for s in merged] == [
        ("Ann", " Hello."),
        ("Bob", " Hi."),
        ("Ann", " Fine."),
        ("Bob", " Same time."),
    ]


def test_channel_fields_parse() -> None:
    assert parse_options({}, languages=LANGS, multilingual=True).channels == "mono"
    opts = parse_options({"channels": "Split", "speakers": " Ann  Lee , Bob "}, languages=LANGS, multilingual=True)
    assert (opts.channels, opts.speakers) == ("split", ("Ann Lee", "Bob"))
    assert JobOptions.from_dict(json.loads(json.dumps(opts.to_dict()))) == opts
    for bad in ({"channels": "left"}, {"speakers": "A,B"}, {"channels": "split", "speakers": "A"}):
        with pytest.raises(BadRequest):
            parse_options(bad, languages=LANGS, multilingual=True)


DIALOGUE = Transcript(
    "en",
    1.0,
    9.0,
    (
        Segment(0, 2, " Hello, support desk.", speaker="Agent", language="en"),
        Segment(2, 3, " How can I help?", speaker="Agent", language="en"),
        Segment(3, 5, " My printer is broken.", speaker="Caller", language="en"),
        Segment(5, 7, " Turn it off & on.", speaker="Agent", language="en"),
    ),
)


def test_dialogue_in_every_format() -> None:
    assert to_txt(DIALOGUE) == (
        "Agent: Hello, support desk. How can I help?\nCaller: My printer is broken.\nAgent: Turn it off & on.\n"
    )
    assert DIALOGUE.text == to_txt(DIALOGUE).rstrip("\n")
    assert "\nAgent: How can I help?\n" in to_srt(DIALOGUE)
    assert "\n<v Agent>Turn it off &amp; on.\n" in to_vtt(DIALOGUE)
    body = json.loads(to_json(DIALOGUE))
    assert [s["speaker"] for s in body["segments"]] == ["Agent", "Agent", "Caller", "Agent"]
    assert body["languages"] == ["en"] and body["segments"][0]["language"] == "en"


def test_languages_in_order_of_appearance() -> None:
    t = Transcript(
        "en",
        None,
        3.0,
        (Segment(0, 1, "a", language="en"), Segment(1, 2, "b", language="de"), Segment(2, 3, "c", language="en")),
    )
    assert t.languages == ("en", "de")
    assert Transcript("ru", 1.0, 1.0, ()).languages == ("ru",)
    assert "speaker" not in json.loads(to_json(t))["segments"][0]


def test_summary_of_a_dialogue_keeps_who_said_what() -> None:
    text = "\n".join(
        f"{who}: {line}"
        for who, line in [
            ("Agent", "Hello. The printer in the office prints no pages since Monday."),
            ("Caller", "The printer shows a paper error. I checked the paper tray twice."),
            ("Agent", "Please turn the printer off and on. Then the paper error should clear."),
        ]
    )
    summary = summarize_extractive(text, 2)
    lines = summary.splitlines()
    assert len(lines) == 2 and all(line.split(": ", 1)[0] in ("Agent", "Caller") for line in lines), summary
    assert all(line.split(": ", 1)[1] in text for line in lines)
    assert summarize_extractive("Note: one line only. Plain text.", 1).count(":") <= 1
