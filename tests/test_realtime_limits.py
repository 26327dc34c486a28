"""Live sessions' limits over a real socket: session caps, idle and length limits, backlog, unread events."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
from aiohttp import WSMsgType

from tests.conftest import MakeClient
from tests.live_support import ga_update, pcm, raw_socket, receive, text_frame
from tests.support import CLIPS
from transcriber.speech.engine import FasterWhisperEngine
from transcriber.web import keys

pytestmark = pytest.mark.slow
PATH = "/v1/realtime?intent=transcription"


async def refused_with(ws: object, code: str) -> None:
    event = await receive(ws)  # type: ignore[arg-type]
    assert event["type"] == "error" and event["error"]["code"] == code, event
    assert (await ws.receive(timeout=10)).type in (WSMsgType.CLOSE, WSMsgType.CLOSED)  # type: ignore[attr-defined]


async def test_session_caps_over_all_and_per_key(make_client: MakeClient, tiny_engine: FasterWhisperEngine) -> None:
    live = {"max_sessions": 2, "max_sessions_per_key": 1}
    client = await make_client(tiny_engine, live=live, server={"api_keys": ["a", "b", "c"]})
    auth = {k: {"Authorization": f"Bearer {k}"} for k in "abc"}
    async with client.ws_connect(PATH, headers=auth["a"]) as first:
        assert (await receive(first))["type"] == "session.created"
        async with client.ws_connect(PATH, headers=auth["a"]) as again:
            await refused_with(again, "too_many_sessions_for_key")
        async with client.ws_connect(PATH, headers=auth["b"]) as second:
            assert (await receive(second))["type"] == "session.created"
            async with client.ws_connect(PATH, headers=auth["c"]) as third:
                await refused_with(third, "too_many_sessions")
    async with client.ws_connect(PATH, headers=auth["c"]) as later:  # the slots were given back
        assert (await receive(later))["type"] == "session.created"


async def test_idle_and_length_limits_end_the_session(
    make_client: MakeClient, tiny_engine: FasterWhisperEngine
) -> None:
    client = await make_client(tiny_engine, live={"idle_timeout": 0.5})
    async with client.ws_connect(PATH) as ws:
        assert (await receive(ws))["type"] == "session.created"
        await refused_with(ws, "idle_timeout")
    client = await make_client(tiny_engine, live={"idle_timeout": 5.0, "max_session_seconds": 1.0})
    async with client.ws_connect(PATH) as ws:
        assert (await receive(ws))["type"] == "session.created"
        await ws.send_str(ga_update())
        assert (await receive(ws))["type"] == "session.updated"
        await refused_with(ws, "session_expired")


async def test_audio_faster_than_it_can_be_transcribed_is_cut_off(
    make_client: MakeClient, tiny_engine: FasterWhisperEngine
) -> None:
    client = await make_client(tiny_engine, live={"max_backlog_seconds": 3.0, "keep": False})
    speech = pcm(CLIPS / "numbers.flac", 24000)
    async with client.ws_connect(PATH) as ws:
        await receive(ws)
        await ws.send_str(ga_update())
        await receive(ws)
        for at in range(0, len(speech), 48000):  # 1 s a message, all at once
            await ws.send_str(json.dumps({"type": "input_audio_buffer.append", "audio": _b64(speech[at : at + 48000])}))
        events = []
        while (msg := await ws.receive(timeout=30)).type == WSMsgType.TEXT:
            events.append(json.loads(msg.data))
    errors = [e["error"]["code"] for e in events if e["type"] == "error"]
    assert errors == ["input_audio_buffer_overflow"], events
    lane = client.app[keys.LIVE] if client.app is not None else None
    assert lane is not None
    for _ in range(100):  # the session ends (and would be saved) after the socket closes
        if lane.active == 0:
            break
        await asyncio.sleep(0.05)
    assert lane.active == 0
    await lane.drain(10)  # its last turns and any saving are done
    assert (await (await client.get("/jobs")).json())["jobs"] == []  # [live] keep = false: nothing saved


async def test_a_client_that_never_reads_is_cut_off(make_client: MakeClient, tiny_engine: FasterWhisperEngine) -> None:
    client = await make_client(tiny_engine)
    reader, writer = await raw_socket(str(client.host), int(client.port or 0), PATH)
    bad = text_frame(json.dumps({"type": "x" * 60}))  # each one answered by an error event, never read
    sent = 0
    with contextlib.suppress(ConnectionError):
        for _ in range(100):
            writer.write(bad * 500)
            sent += 500
            await asyncio.wait_for(writer.drain(), 10)
    lane = client.app[keys.LIVE] if client.app is not None else None
    assert lane is not None
    for _ in range(300):  # not reading meanwhile: the server must give up on its own
        if lane.active == 0:
            break
        await asyncio.sleep(0.1)
    assert lane.active == 0, "the session still runs for a client that reads nothing"
    with contextlib.suppress(ConnectionResetError):  # dropped: what was in flight, then the end
        await asyncio.wait_for(reader.read(), 10)
    writer.close()


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


async def test_without_keys_only_the_overall_cap_counts(
    make_client: MakeClient, tiny_engine: FasterWhisperEngine
) -> None:
    client = await make_client(tiny_engine, live={"max_sessions": 2, "max_sessions_per_key": 1})
    async with client.ws_connect(PATH) as first, client.ws_connect(PATH) as second:
        assert (await receive(first))["type"] == "session.created"
        assert (await receive(second))["type"] == "session.created"  # no keys: nobody to count per key
        async with client.ws_connect(PATH) as third:
            await refused_with(third, "too_many_sessions")
