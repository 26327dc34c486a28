"""Helpers for live-session tests: a clip as PCM16 at a rate, spoken over a Realtime WebSocket."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
from aiohttp import ClientWebSocketResponse, WSMsgType

Event = dict[str, Any]
DELTA = "conversation.item.input_audio_transcription.delta"
COMPLETED = "conversation.item.input_audio_transcription.completed"


def pcm(path: Path, rate: int = 24000) -> bytes:
    """The clip decoded and resampled (FFmpeg) to PCM16 mono at `rate`."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
    out: list[np.ndarray] = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            out += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    out += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(out).astype("<i2").tobytes()


def silence(seconds: float, rate: int = 24000) -> bytes:
    return bytes(2 * int(seconds * rate))


def append(data: bytes) -> str:
    return json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(data).decode()})


async def speak(ws: ClientWebSocketResponse, data: bytes, rate: int, speed: float = 1.0, chunk_ms: int = 100) -> None:
    """Send the audio in chunk_ms pieces, `speed` times faster than real time."""
    step = 2 * rate * chunk_ms // 1000
    started = time.monotonic()
    for i, at in enumerate(range(0, len(data), step)):
        await ws.send_str(append(data[at : at + step]))
        due = started + (i + 1) * chunk_ms / 1000 / speed
        await asyncio.sleep(max(0.0, due - time.monotonic()))


async def receive(ws: ClientWebSocketResponse, timeout: float = 60.0) -> Event:
    msg = await ws.receive(timeout=timeout)
    assert msg.type == WSMsgType.TEXT, f"expected an event, got {msg.type} {msg.data!r}"
    event: Event = json.loads(msg.data)
    return event


async def until(
    ws: ClientWebSocketResponse, done: Callable[[Event], bool], timeout: float = 90.0, count: int = 1
) -> list[Event]:
    """Every event up to and including the count-th for which done() holds (or the first error)."""
    seen: list[Event] = []
    deadline = time.monotonic() + timeout
    while True:
        event = await receive(ws, max(0.1, deadline - time.monotonic()))
        seen.append(event)
        count -= bool(done(event))
        if count <= 0 or event["type"] == "error":
            return seen


def of_type(events: list[Event], kind: str) -> list[Event]:
    return [e for e in events if e["type"] == kind]


SERVER_VAD = {"type": "server_vad", "silence_duration_ms": 500}


def ga_update(rate: int = 24000, detection: dict[str, Any] | None = SERVER_VAD, **transcription: Any) -> str:
    """A GA session.update; detection None asks for manual commits."""
    turn = detection
    audio_in = {"format": {"type": "audio/pcm", "rate": rate}, "transcription": transcription, "turn_detection": turn}
    return json.dumps({"type": "session.update", "session": {"type": "transcription", "audio": {"input": audio_in}}})


async def raw_socket(host: str, port: int, path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A WebSocket handshake on a plain socket with a tiny receive buffer: a client that can stop reading."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, port))
    reader, writer = await asyncio.open_connection(sock=sock)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    status = await reader.readuntil(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 101"), status
    return reader, writer


def text_frame(text: str) -> bytes:
    """One masked client text frame (RFC 6455)."""
    payload, mask = text.encode(), os.urandom(4)
    size = len(payload)
    head = bytes([0x81, 0x80 | size]) if size < 126 else bytes([0x81, 0x80 | 126]) + struct.pack(">H", size)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
