"""Live transcription over OpenAI's Realtime protocol: a real aiohttp WebSocket client, a real server, tiny.en."""

from __future__ import annotations

import asyncio
import json
import re

import aiohttp
import pytest

from tests.conftest import MakeClient
from tests.live_support import (
    COMPLETED,
    DELTA,
    append,
    ga_update,
    of_type,
    pcm,
    receive,
    silence,
    speak,
    until,
)
from tests.support import CLIPS, TEXTS, wait_status
from transcriber.speech.engine import FasterWhisperEngine

pytestmark = pytest.mark.slow
PATH = "/v1/realtime?intent=transcription"


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


async def test_ga_session_speaks_two_turns_and_gets_partial_then_final_text(
    make_client: MakeClient, tiny_engine: FasterWhisperEngine
) -> None:
    client = await make_client(tiny_engine)
    clip = pcm(CLIPS / "hello.wav") + silence(1.2) + pcm(CLIPS / "numbers.flac") + silence(1.5)
    async with client.ws_connect(PATH) as ws:
        created = await receive(ws)
        assert created["type"] == "session.created" and created["session"]["type"] == "transcription"
        await ws.send_str(ga_update(24000, language="en"))
        updated = await receive(ws)
        assert updated["type"] == "session.updated"
        assert updated["session"]["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
        speaking = asyncio.create_task(speak(ws, clip, 24000, speed=1.2))
        events = await until(ws, lambda e: e["type"] == COMPLETED, count=2)
        await speaking
    kinds = [e["type"] for e in events]
    assert "error" not in kinds, events
    order = ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped", "input_audio_buffer.committed"]
    assert [k for k in kinds if k in order] == order * 2, kinds
    first, second = of_type(events, order[0])
    assert 0 <= first["audio_start_ms"] < 1000 and second["audio_start_ms"] > 3500
    commits = of_type(events, order[2])
    assert commits[0]["previous_item_id"] is None and commits[1]["previous_item_id"] == first["item_id"]
    completed = of_type(events, COMPLETED)
    assert [c["item_id"] for c in completed] == [first["item_id"], second["item_id"]]
    for turn, clip_name in zip(completed, ("hello.wav", "numbers.flac"), strict=True):
        deltas = [e for e in of_type(events, DELTA) if e["item_id"] == turn["item_id"]]
        assert all(e["content_index"] == 0 and e["event_id"] for e in [*deltas, turn])
        # Never taken back: what was sent as partial text is exactly how the transcript begins.
        assert "".join(d["delta"] for d in deltas) == turn["transcript"]
        expected = set(words(TEXTS[clip_name]))
        assert len(expected & set(words(turn["transcript"]))) >= len(expected) * 0.7, turn["transcript"]
    # Text came in parts, partial text before the final delta (how much depends on the CPU: a
    # shared 2-core machine decodes a partial in up to 3 s).
    per_turn = [len([e for e in of_type(events, DELTA) if e["item_id"] == t["item_id"]]) for t in (first, second)]
    assert max(per_turn) >= 2, kinds


async def test_beta_shape_at_16_khz_with_manual_commits_kept_as_a_job(
    make_client: MakeClient, tiny_engine: FasterWhisperEngine
) -> None:
    client = await make_client(
        tiny_engine, retention={"keep_audio": True}, summarizer={"enabled": True, "max_sentences": 1}
    )
    beta = {
        "type": "transcription_session.update",
        "session": {
            "input_audio_format": "pcm16",
            "input_audio_transcription": {"model": "whisper-1", "language": "en", "prompt": ""},
            "turn_detection": None,
        },
    }
    async with client.ws_connect(PATH, headers={"OpenAI-Beta": "realtime=v1"}) as ws:
        assert (await receive(ws))["type"] == "session.created"
        await ws.send_str(json.dumps(beta))
        updated = await until(ws, lambda e: e["type"] == "transcription_session.updated")
        assert updated[0]["type"] == "session.updated"
        assert updated[0]["session"]["audio"]["input"]["turn_detection"] is None
        # GA update on the same socket: 16 kHz, still no turn detection.
        await ws.send_str(ga_update(16000, detection=None, language="en"))
        assert (await receive(ws))["session"]["audio"]["input"]["format"]["rate"] == 16000
        await ws.send_str(json.dumps({"type": "input_audio_buffer.commit", "event_id": "c0"}))
        empty = await receive(ws)
        assert empty["type"] == "error" and empty["error"]["code"] == "input_audio_buffer_commit_empty"
        await speak(ws, pcm(CLIPS / "hello.wav", 16000), 16000, speed=8.0)
        await ws.send_str(json.dumps({"type": "input_audio_buffer.commit"}))
        events = await until(ws, lambda e: e["type"] in (COMPLETED, "error"))
    kinds = [e["type"] for e in events]
    assert "input_audio_buffer.speech_started" not in kinds and "input_audio_buffer.committed" in kinds, kinds
    before = kinds[: kinds.index("input_audio_buffer.committed")]  # partial text may come while it is spoken
    assert set(before) <= {"conversation.item.input_audio_transcription.delta"}, kinds
    completed = of_type(events, COMPLETED)[0]
    assert {"hello", "welcome", "speech", "test"} <= set(words(completed["transcript"])), completed
    assert "".join(d["delta"] for d in of_type(events, DELTA)) == completed["transcript"]
    # The finished session is a job like an upload: transcript, WAV, summary.
    for _ in range(100):  # saved once the server sees the socket close
        listing = await (await client.get("/jobs")).json()
        if listing["jobs"]:
            break
        await asyncio.sleep(0.1)
    (job,) = listing["jobs"]
    status = await wait_status(client, job["job_id"])
    assert status["status"] == "completed" and status["text"].strip() == completed["transcript"]
    assert 3.0 <= status["duration"] <= 4.0  # hello.wav is 3.5 s, all of it recorded
    audio = await client.get(f"/jobs/{job['job_id']}/audio")
    body = await audio.read()
    assert audio.status == 200 and body[:4] == b"RIFF" and body[8:12] == b"WAVE" and len(body) > 100_000
    txt = await (await client.get(f"/jobs/{job['job_id']}/transcript.txt")).text()
    assert "welcome" in txt.lower()
    summarized = await wait_status(client, job["job_id"], timeout=30)
    for _ in range(100):
        if summarized["summary"]["status"] == "completed":
            break
        await asyncio.sleep(0.1)
        summarized = await wait_status(client, job["job_id"])
    assert summarized["summary"]["status"] == "completed" and summarized["summary"]["text"], summarized["summary"]


async def test_bad_events_get_clear_errors_and_the_session_goes_on(
    make_client: MakeClient, tiny_engine: FasterWhisperEngine
) -> None:
    client = await make_client(tiny_engine)
    async with client.ws_connect(PATH) as ws:
        await receive(ws)
        cases = [
            (append(silence(0.1)), "session_not_configured"),
            ("{not json", "invalid_json"),
            ("[1, 2]", "invalid_event"),
            (json.dumps({"type": "response.create", "event_id": "e1"}), "unknown_event"),
            (ga_update(44100), "invalid_value"),
            (ga_update(detection={"type": "server_vad", "threshold": 7}), "invalid_value"),
        ]
        for sent, code in cases:
            await ws.send_str(sent)
            event = await receive(ws)
            assert event["type"] == "error" and event["error"]["code"] == code, (sent, event)
            assert event["error"]["message"]
        assert event["error"]["param"] == "session.audio.input.turn_detection.threshold"
        await ws.send_str(ga_update(language="en"))
        assert (await receive(ws))["type"] == "session.updated"
        await ws.send_str(json.dumps({"type": "input_audio_buffer.append", "audio": "%%% not base64"}))
        event = await receive(ws)
        assert event["error"]["code"] == "invalid_audio" and event["error"]["param"] == "audio"
        await ws.send_str(append(silence(0.2)))
        await ws.send_str(json.dumps({"type": "input_audio_buffer.clear"}))
        assert (await receive(ws))["type"] == "input_audio_buffer.cleared"
        await ws.send_bytes(b"\x00\x01")
        assert (await receive(ws))["error"]["code"] == "invalid_json"
        assert not ws.closed


async def test_keys_by_header_subprotocol_or_query(make_client: MakeClient, tiny_engine: FasterWhisperEngine) -> None:
    client = await make_client(tiny_engine, server={"api_keys": ["live-key"]})
    refused = await client.get(PATH)
    assert refused.status == 401
    for how in (
        {"headers": {"Authorization": "Bearer live-key"}},
        {"protocols": ("realtime", "openai-insecure-api-key.live-key")},
    ):
        async with client.ws_connect(PATH, **how) as ws:
            assert (await receive(ws))["type"] == "session.created"
            if "protocols" in how:
                assert ws.protocol == "realtime"  # the key is never echoed back
    async with client.ws_connect(PATH + "&access_token=live-key") as ws:
        assert (await receive(ws))["type"] == "session.created"
    with pytest.raises(aiohttp.WSServerHandshakeError):
        async with client.ws_connect(PATH, protocols=("realtime", "openai-insecure-api-key.wrong")):
            pass


async def test_no_partial_text_before_first_partial_seconds_of_a_turn(
    make_client: MakeClient, tiny_engine: FasterWhisperEngine
) -> None:
    # hello.wav is a 3.5 s turn: with the first partial due after 60 s, its text comes at its end only.
    client = await make_client(tiny_engine, live={"first_partial_seconds": 60.0})
    async with client.ws_connect(PATH) as ws:
        assert (await receive(ws))["type"] == "session.created"
        await ws.send_str(ga_update(24000, language="en"))
        assert (await receive(ws))["type"] == "session.updated"
        speaking = asyncio.create_task(speak(ws, pcm(CLIPS / "hello.wav") + silence(1.2), 24000, speed=1.5))
        events = await until(ws, lambda e: e["type"] == COMPLETED)
        await speaking
    kinds = [e["type"] for e in events]
    assert "error" not in kinds and kinds.count(DELTA) == 1, kinds
    assert kinds.index("input_audio_buffer.committed") < kinds.index(DELTA), kinds
    expected, heard = set(words(TEXTS["hello.wav"])), set(words(of_type(events, COMPLETED)[0]["transcript"]))
    assert len(expected & heard) >= len(expected) * 0.7, heard
