"""Voices across recordings: enrol a person from a clip or a job's speaker; diarized jobs name them."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp import FormData

from tests.conftest import MakeClient
from tests.support import CLIPS, Client, form, wait_status, write_wav
from transcriber.jobs.voices import VOICE_MATCH, match
from transcriber.speech import audio, diarize
from transcriber.speech.engine import FasterWhisperEngine

ANNA, BORIS = "Bearer anna-key", "Bearer boris-key"
KEYS = {"server": {"api_keys": ["anna:anna-key", "boris:boris-key"], "isolate_keys": True}}


def _clip_form(name: str | None, path: Path | None = None, data: bytes | None = None) -> FormData:
    body = form(path, data=data) if (path or data) else FormData(default_to_multipart=True)
    if name is not None:
        body.add_field("name", name)
    return body


async def _enrol(client: Client, key: str, body: Any, status: int = 201) -> dict[str, Any]:
    kwargs = {"json": body} if isinstance(body, dict) else {"data": body}
    resp = await client.post("/voices", headers={"Authorization": key}, **kwargs)
    answer: dict[str, Any] = await resp.json()
    assert resp.status == status, answer
    return answer


async def test_voices_belong_to_the_key_that_made_them(
    make_client: MakeClient, tiny_engine: FasterWhisperEngine
) -> None:
    client = await make_client(tiny_engine, **KEYS)
    boris = await _enrol(client, ANNA, _clip_form("Boris", CLIPS / "voice_b.ogg"))
    assert set(boris) == {"voice_id", "name", "source", "created_at"} and boris["name"] == "Boris"
    headers, other = {"Authorization": ANNA}, {"Authorization": BORIS}
    assert [v["name"] for v in (await (await client.get("/voices", headers=headers)).json())["voices"]] == ["Boris"]
    assert (await (await client.get("/voices", headers=other)).json())["voices"] == []
    assert (await client.delete(f"/voices/{boris['voice_id']}", headers=other)).status == 404
    job = await submit_plain(client)  # another key cannot enrol from Anna's job either
    answer = await _enrol(client, BORIS, {"name": "X", "job_id": job, "speaker": "S1"}, status=404)
    assert answer["error"]["code"] == "job_not_found"
    assert (await client.delete(f"/voices/{boris['voice_id']}", headers=headers)).status == 200
    assert (await (await client.get("/voices", headers=headers)).json())["voices"] == []


def test_matching_takes_the_most_similar_voice_once_and_refuses_the_rest() -> None:
    a, b = np.eye(4)[0], np.eye(4)[1]
    near_a = (0.9 * a + 0.1 * b) / np.linalg.norm(0.9 * a + 0.1 * b)
    voices = {"S1": tuple(near_a), "S2": tuple(a), "S3": tuple(np.eye(4)[2])}
    enrolled = [("Anna", list(a)), ("Boris", list(b))]
    assert match(voices, enrolled) == {"S2": "Anna"}  # S1 is close to Anna too, but S2 is closer
    assert float(np.dot(near_a, b)) < VOICE_MATCH


async def test_bad_voices_are_4xx_and_keep_nothing(
    make_client: MakeClient, tiny_engine: FasterWhisperEngine, tmp_path: Path
) -> None:
    client = await make_client(tiny_engine, data_dir=tmp_path / "data", **KEYS)
    silence = write_wav(tmp_path / "silence.wav", np.zeros(16000 * 4, dtype=np.float32))
    job = await submit_plain(client)
    cases: list[tuple[Any, int, str]] = [
        (_clip_form("Quiet", silence), 400, "voice_too_short"),
        (_clip_form("Noise", data=b"this is not audio at all" * 100), 415, "not_audio"),
        (_clip_form(None, CLIPS / "voice_b.ogg"), 400, "invalid_voice"),
        (_clip_form("Bad: name", CLIPS / "voice_b.ogg"), 400, "invalid_speakers"),
        ({"name": "Anna", "job_id": "nope", "speaker": "S1"}, 404, "job_not_found"),
        ({"name": "Anna", "job_id": job, "speaker": "S1"}, 400, "unknown_speaker"),  # not diarized
        ({"name": "Anna"}, 400, "invalid_voice"),
    ]
    for body, status, code in cases:
        answer = await _enrol(client, ANNA, body, status=status)
        assert answer["error"]["code"] == code, (body, answer)
    assert (await (await client.get("/voices", headers={"Authorization": ANNA})).json())["voices"] == []
    assert not list((tmp_path / "data").glob(".voice-*"))  # no clip left behind
    resp = await client.delete("/voices/nope", headers={"Authorization": ANNA})
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "voice_not_found"


async def submit_plain(client: Client) -> str:
    resp = await client.post("/transcribe", data=form(CLIPS / "hello.wav"), headers={"Authorization": ANNA})
    job_id: str = (await resp.json())["job_id"]
    await wait_status(client, job_id, headers={"Authorization": ANNA})
    return job_id


async def test_clips_are_decoded_and_embedded_off_the_event_loop(
    make_client: MakeClient, tiny_engine: FasterWhisperEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A voice clip (POST /voices, and /v1's known_speaker_references) is seconds of decoding and
    embedding: done on the event loop, it would stall every other request meanwhile."""
    client = await make_client(tiny_engine, **KEYS)
    threads: list[tuple[str, bool]] = []
    loop_thread = threading.get_ident()

    def spy(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def recorded(*args: Any, **kwargs: Any) -> Any:
            threads.append((name, threading.get_ident() == loop_thread))
            return real(*args, **kwargs)

        return recorded

    monkeypatch.setattr(audio, "decode", spy("decode", audio.decode))
    monkeypatch.setattr(diarize, "voice_of", spy("voice_of", diarize.voice_of))
    monkeypatch.setattr("transcriber.jobs.voices.voice_of", spy("voice_of", diarize.voice_of))
    await _enrol(client, ANNA, _clip_form("Boris", CLIPS / "voice_b.ogg"))
    reference = "data:audio/ogg;base64," + base64.b64encode((CLIPS / "voice_b.ogg").read_bytes()).decode()
    body = form(CLIPS / "voice_b.ogg", model="whisper-1", response_format="diarized_json")
    body.add_field("known_speaker_names[]", "Boris")
    body.add_field("known_speaker_references[]", reference)
    resp = await client.post("/v1/audio/transcriptions", data=body, headers={"Authorization": ANNA})
    assert resp.status == 200, await resp.text()
    assert {name for name, _ in threads} == {"decode", "voice_of"}
    assert not [name for name, on_loop in threads if on_loop], threads
