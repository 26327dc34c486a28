"""The default base model end to end: Russian, translation, and a recording that changes language."""

from __future__ import annotations

from typing import Any

from bench.wer import word_error_rate
from tests.conftest import MakeClient
from tests.support import CLIPS, TEXTS, Client, submit, wait_status
from transcriber.speech.engine import FasterWhisperEngine


async def _transcribe(client: Client, name: str, **fields: str) -> tuple[dict[str, Any], dict[str, Any]]:
    job = await submit(client, CLIPS / name, **fields)
    status = await wait_status(client, job["job_id"], timeout=180)
    assert status["status"] == "completed", status
    resp = await client.get(f"/jobs/{job['job_id']}/transcript.json")
    return status, await resp.json()


async def test_russian_clip_with_detected_language(make_client: MakeClient, base_engine: FasterWhisperEngine) -> None:
    client = await make_client(base_engine)
    status, result = await _transcribe(client, "russian.ogg")
    assert status["language"] == "ru" and status["languages"] == ["ru"], status
    assert word_error_rate(TEXTS["russian.ogg"], status["text"]) <= 0.25, status["text"]
    assert {s["language"] for s in result["segments"]} == {"ru"}


async def test_russian_translated_to_english(make_client: MakeClient, base_engine: FasterWhisperEngine) -> None:
    client = await make_client(base_engine)
    status, _ = await _transcribe(client, "russian.ogg", task="translate", language="ru")
    text = status["text"].lower()
    assert not any("\u0400" <= c <= "\u04ff" for c in text), text  # no Cyrillic left
    assert sum(word in text for word in ("today", "weather", "good", "book", "read", "thank")) >= 3, text


async def test_second_language_comes_out_in_that_language(
    make_client: MakeClient, base_engine: FasterWhisperEngine
) -> None:
    client = await make_client(base_engine)
    status, result = await _transcribe(client, "mixed.ogg")
    assert_english_then_german(status, result)


def assert_english_then_german(status: dict[str, Any], result: dict[str, Any]) -> None:
    """mixed.ogg came out as English up to its pause and German after it, each in its language."""
    assert status["languages"] == ["en", "de"], status
    english = [s for s in result["segments"] if s["end"] <= 8.0]
    german = [s for s in result["segments"] if s["start"] >= 8.0]
    assert english and all(s["language"] == "en" for s in english), result["segments"]
    assert german and all(s["language"] == "de" for s in german), result["segments"]
    spoken_en, spoken_de = TEXTS["mixed.ogg"].split("Guten")
    assert word_error_rate(spoken_en, " ".join(s["text"] for s in english)) <= 0.2
    assert word_error_rate("Guten" + spoken_de, " ".join(s["text"] for s in german)) <= 0.3
    assert result["languages"] == ["en", "de"]
