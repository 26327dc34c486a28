"""`transcriber live`: speak a file (at real speed) or raw PCM from stdin to /v1/realtime, print text as it comes."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp

CHUNK_SECONDS = 0.1
DELTA = "conversation.item.input_audio_transcription.delta"
COMPLETED = "conversation.item.input_audio_transcription.completed"
DONE_TIMEOUT = 60.0  # after the last audio: how long the last turns may take to be transcribed


class LiveError(Exception):
    """The server refused the session or ended it with an error event."""


def file_pcm(path: Path, rate: int) -> bytes:
    """The file decoded and resampled (FFmpeg, through PyAV) to PCM16 mono at `rate`."""
    import av
    import numpy as np

    resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
    out = []
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(audio=0):
                out += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    except (av.error.FFmpegError, IndexError, OSError) as exc:
        raise LiveError(f"{path}: not decodable audio ({exc})") from None
    out += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(out).astype("<i2").tobytes() if out else b""


async def paced(data: bytes, rate: int, speed: float) -> AsyncIterator[bytes]:
    """The audio in CHUNK_SECONDS pieces at `speed` times real time."""
    step = int(2 * rate * CHUNK_SECONDS)
    started = time.monotonic()
    for i, at in enumerate(range(0, len(data), step)):
        yield data[at : at + step]
        await asyncio.sleep(max(0.0, started + (i + 1) * CHUNK_SECONDS / speed - time.monotonic()))


async def stdin_pcm(rate: int) -> AsyncIterator[bytes]:
    """Raw PCM16 LE mono from stdin as it arrives (it is live already: no pacing)."""
    step = int(2 * rate * CHUNK_SECONDS)
    while chunk := await asyncio.to_thread(sys.stdin.buffer.read, step):
        yield chunk


def realtime_url(server: str) -> str:
    base = server.rstrip("/").replace("http://", "ws://", 1).replace("https://", "wss://", 1)
    return f"{base}/v1/realtime?intent=transcription"


def session_update(rate: int, language: str | None) -> dict[str, Any]:
    transcription = {"model": "whisper-1", "language": language or ""}
    fmt = {"type": "audio/pcm", "rate": rate}
    audio_in = {"format": fmt, "transcription": transcription, "turn_detection": {"type": "server_vad"}}
    return {"type": "session.update", "session": {"type": "transcription", "audio": {"input": audio_in}}}


async def transcribe_live(
    server: str, api_key: str | None, audio: AsyncIterator[bytes], update: dict[str, Any], out: Callable[[str], None]
) -> list[str]:
    """Send the audio, call out() with each piece of text (a newline ends a turn); the turns' transcripts."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    async with aiohttp.ClientSession(headers=headers) as session, session.ws_connect(realtime_url(server)) as ws:
        await ws.send_json(update)
        turns: list[str] = []
        state = {"started": 0, "sent_all": False}
        reading = asyncio.create_task(_read(ws, turns, state, out))
        try:
            async for chunk in audio:
                if reading.done():
                    break
                await ws.send_json({"type": "input_audio_buffer.append", "audio": base64.b64encode(chunk).decode()})
            await ws.send_json({"type": "input_audio_buffer.commit"})  # what is left after the last pause
            state["sent_all"] = True
            await asyncio.wait_for(reading, DONE_TIMEOUT)
        finally:
            reading.cancel()
        return turns


Out = Callable[[str], None]


async def _read(ws: aiohttp.ClientWebSocketResponse, turns: list[str], state: dict[str, Any], out: Out) -> None:
    async for msg in ws:
        if msg.type != aiohttp.WSMsgType.TEXT:
            break
        event = json.loads(msg.data)
        kind = event.get("type")
        if kind == "input_audio_buffer.committed":
            state["started"] += 1
        elif kind == DELTA:
            out(event["delta"])
        elif kind == COMPLETED:
            turns.append(event["transcript"])
            out("\n")
        elif kind == "error" and event["error"].get("code") != "input_audio_buffer_commit_empty":
            raise LiveError(f"{event['error'].get('code')}: {event['error'].get('message')}")
        if state["sent_all"] and len(turns) >= state["started"] and kind in (COMPLETED, "error"):
            return
