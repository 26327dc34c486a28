"""Test helpers: settings in tmp dirs, the real tiny.en engine, a fake engine, uploads, waiting."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import threading
import time
import wave
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import FormData, web
from aiohttp.test_utils import TestClient

from transcriber.domain.options import JobOptions
from transcriber.outputs.transcript import Segment, Transcript
from transcriber.settings import Settings, settings_from
from transcriber.speech import audio
from transcriber.speech.engine import EngineInfo, SegmentCallback

CLIPS = Path(__file__).parent / "clips"
TEXTS: dict[str, str] = json.loads((CLIPS / "texts.json").read_text(encoding="utf-8"))
Client = TestClient[web.Request, web.Application]
FINISHED = ("completed", "failed", "cancelled")


def make_settings(data_dir: Path, **sections: dict[str, Any]) -> Settings:
    """Settings as a config.toml with these tables would give, with no environment."""
    raw: dict[str, Any] = {"whisper": {"model": "tiny.en"}, **sections}
    raw["whisper"] = {"model": "tiny.en", **raw["whisper"]}
    raw.setdefault("summarizer", {"enabled": False})
    settings = settings_from(raw, {}, base_dir=data_dir)
    return replace(settings, data_dir=data_dir)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def form(path: Path | None = None, *, data: bytes | None = None, filename: str = "audio", **fields: str) -> FormData:
    body = FormData(default_to_multipart=True)
    for key, value in fields.items():
        body.add_field(key, value)
    if path is not None or data is not None:
        payload = data if data is not None else path.read_bytes()  # type: ignore[union-attr]
        # a file object, not bytes: aiohttp warns about large raw byte bodies
        body.add_field("file", io.BytesIO(payload), filename=filename if path is None else path.name)
    return body


def form_with(path: Path | None, fields: dict[str, str]) -> FormData:
    """form() with fields from a dict (a plain ** would let a field shadow data or filename)."""
    body = form(path)
    for key, value in fields.items():
        body.add_field(key, value)
    return body


async def submit(client: Client, path: Path | None = None, **fields: str) -> dict[str, Any]:
    resp = await client.post("/transcribe", data=form_with(path, fields))
    body: dict[str, Any] = await resp.json()
    assert resp.status == 202, body
    return body


async def wait_status(
    client: Client,
    job_id: str,
    want: tuple[str, ...] = FINISHED,
    timeout: float = 120,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        resp = await client.get(f"/status/{job_id}", headers=headers)
        body: dict[str, Any] = await resp.json()
        if body.get("status") in want:
            return body
        assert time.monotonic() < deadline, f"job {job_id} still {body.get('status')} after {timeout} s"
        await asyncio.sleep(0.05)


def write_wav(path: Path, samples: np.ndarray, rate: int = audio.SAMPLE_RATE) -> Path:
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return path


def speech_wav(path: Path, names: list[str], gap: float = 0.5) -> Path:
    """Concatenate committed clips (decoded with PyAV) into one 16 kHz WAV."""
    silence = np.zeros(int(gap * audio.SAMPLE_RATE), dtype=np.float32)
    parts = []
    for name in names:
        parts += [np.concatenate(list(audio.decode(CLIPS / name))), silence]
    return write_wav(path, np.concatenate(parts))


class FakeEngine:
    """Emits one segment per audio second; a job waits on its gate before each segment.

    For scheduler tests: order, cancellation, stalls. The end-to-end tests use the real model.
    The first `free_segments` segments of a job come before its gate is waited on (partial text).
    """

    def __init__(self, workers: int = 1, auto: bool = True):
        self._info = EngineInfo(
            "fake", "-", "test", "cpu", "int8", workers, 1, False, True, 0.0, {"fake": "1"}, ("en", "ru", "de")
        )
        self.auto = auto
        self.gates: dict[float, threading.Event] = {}
        self.order: list[float] = []
        self.segment_delay = 0.0
        self.free_segments = 0

    @property
    def info(self) -> EngineInfo:
        return self._info

    def transcribe(
        self, path: Path, duration: float, options: JobOptions, on_segment: SegmentCallback, *, wide: bool = False
    ) -> Transcript:
        self.order.append(duration)
        gate = self.gates.setdefault(duration, threading.Event())
        if self.auto:
            gate.set()
        segments = []
        for second in range(max(1, int(duration))):
            if second >= self.free_segments and not gate.wait(timeout=60):
                raise TimeoutError("fake engine gate never opened")
            time.sleep(self.segment_delay)
            seg = Segment(float(second), float(second + 1), f" word{second}")
            on_segment(seg, "en")
            segments.append(seg)
        return Transcript("en", 1.0, duration, tuple(segments))


def tone_wav(path: Path, seconds: float) -> Path:
    t = np.arange(int(seconds * audio.SAMPLE_RATE)) / audio.SAMPLE_RATE
    return write_wav(path, (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32))
