"""A finished job's transcript.json read back into a Transcript, so its files can be rendered again."""

from __future__ import annotations

import json
from typing import Any

from transcriber.outputs.transcript import Decoding, Segment, Transcript, Word


def _word(body: dict[str, Any]) -> Word:
    probability = body.get("probability")
    return Word(
        float(body["start"]),
        float(body["end"]),
        str(body["word"]),
        float(probability) if probability is not None else 0.0,
        speaker=body.get("speaker"),
    )


def _decoding(body: dict[str, Any] | None) -> Decoding | None:
    if not body:
        return None
    numbers = {k: float(body.get(k) or 0.0) for k in ("temperature", "avg_logprob", "compression_ratio")}
    return Decoding(
        seek=int(body.get("seek") or 0),
        tokens=tuple(body.get("tokens") or ()),
        no_speech_prob=float(body.get("no_speech_prob") or 0.0),
        **numbers,
    )


def _segment(body: dict[str, Any]) -> Segment:
    words = body.get("words")
    return Segment(
        float(body["start"]),
        float(body["end"]),
        str(body["text"]),
        tuple(_word(w) for w in words) if words else None,
        language=body.get("language"),
        speaker=body.get("speaker"),
        decoding=_decoding(body.get("decoding")),
    )


def transcript_from_json(text: str) -> Transcript:
    """The Transcript to_json wrote (names of speakers included)."""
    doc = json.loads(text)
    settings = doc.get("settings") or {}
    return Transcript(
        language=doc.get("language"),
        language_probability=doc.get("language_probability"),
        duration=float(doc.get("duration") or 0.0),
        segments=tuple(_segment(s) for s in doc.get("segments", [])),
        settings=settings,
        provenance=doc.get("provenance") or {},
        show_words=bool(settings.get("word_timestamps", True)),
        speaker_names={s["id"]: s["name"] for s in doc.get("speakers") or []},
    )
