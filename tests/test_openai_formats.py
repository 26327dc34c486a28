"""OpenAI response bodies from transcript.json documents (pure functions), including odd input."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from transcriber.outputs.formats import to_json
from transcriber.outputs.transcript import Decoding, Segment, Transcript, Word
from transcriber.web.openai.formats import compression_ratio, json_body, language_name, text_body, verbose_body

DECODING = Decoding(
    seek=0, tokens=(50364, 2425), temperature=0.2, avg_logprob=-0.3, compression_ratio=1.1, no_speech_prob=0.01
)


def document(*segments: Segment, language: str | None = "ru") -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(to_json(Transcript(language, 0.9, 4.0, segments)))
    return doc


def test_bodies_from_a_written_transcript() -> None:
    words = (Word(0.0, 0.4, " Hello", 0.9), Word(0.5, 0.9, " there.", float("nan")))
    doc = document(Segment(0.0, 1.0, " Hello there.", words, decoding=DECODING), Segment(1.0, 2.0, " Bye."))
    assert json_body(doc) == {"text": "Hello there. Bye."} and text_body(doc) == "Hello there. Bye.\n"
    body = verbose_body(doc, "transcribe", frozenset({"segment", "word"}))
    assert body["task"] == "transcribe" and body["language"] == "russian" and body["duration"] == 4.0
    first, second = body["segments"]
    assert first == {
        "id": 0,
        "seek": 0,
        "start": 0.0,
        "end": 1.0,
        "text": " Hello there.",
        "tokens": [50364, 2425],
        "temperature": 0.2,
        "avg_logprob": -0.3,
        "compression_ratio": 1.1,
        "no_speech_prob": 0.01,
    }
    assert second["seek"] == 100 and second["tokens"] == [] and second["compression_ratio"] > 0
    assert body["words"] == [{"word": "Hello", "start": 0.0, "end": 0.4}, {"word": "there.", "start": 0.5, "end": 0.9}]


def test_granularities_and_translation_language() -> None:
    doc = document(Segment(0.0, 1.0, " Hi.", None, decoding=DECODING))
    assert "words" not in verbose_body(doc, "transcribe", frozenset({"segment"}))
    only_words = verbose_body(doc, "transcribe", frozenset({"word"}))
    assert only_words["words"] == [] and "segments" not in only_words
    assert verbose_body(doc, "translate", frozenset({"segment"}))["language"] == "english"


def test_language_names() -> None:
    assert (language_name("en"), language_name("yue"), language_name("ht")) == (
        "english",
        "cantonese",
        "haitian creole",
    )
    assert language_name("xx") == "xx" and language_name(None) == "unknown"
    assert compression_ratio("") == 0.0 and compression_ratio("ha " * 200) > 10


floats = st.floats(allow_nan=True, allow_infinity=True)


@given(st.lists(st.tuples(floats, floats, st.text(), floats, floats), max_size=5), st.sampled_from([None, "en", "zz"]))
def test_verbose_body_is_valid_json_for_any_transcript(
    raw: list[tuple[float, float, str, float, float]], language: str | None
) -> None:
    segments = tuple(
        Segment(a, b, text, (Word(a, b, text, p),), decoding=Decoding(1, (1,), p, q, p, q)) for a, b, text, p, q in raw
    )
    body = verbose_body(document(*segments, language=language), "transcribe", frozenset({"segment", "word"}))
    json.dumps(body, allow_nan=False)
    assert len(body["segments"]) == len(raw) == len(body["words"])
    assert all(isinstance(s[k], float) for s in body["segments"] for k in ("avg_logprob", "no_speech_prob"))
