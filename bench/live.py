"""`python -m bench.live`: live transcription latency and accuracy against a real server, as a table.

One session speaks a 25 s clip of three turns at real speed over /v1/realtime. Measured: from the
clip's first speech (offline Silero VAD) to the first delta, from its last speech to the last
`.completed`, and the WER of the live text against the file transcript of the same clip (and both
against the reference text); idle, and with both workers busy on long file jobs; tiny.en and base;
then several sessions at once. Targets (issue 21, 2 cores, base): first text within 1.5 s, final
text within 1.0 s idle and 2.0 s busy, WER within 2 points of the file transcript.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import numpy as np
from faster_whisper.vad import VadOptions, get_speech_timestamps

from bench.client import session, submit, wait_job
from bench.machine import CpuTimes, describe
from bench.server import Server, ServerConfig
from bench.wer import word_error_rate
from transcriber.cli.live import file_pcm, paced, session_update
from transcriber.speech.live_audio import PcmResampler

CLIPS = Path(__file__).resolve().parent.parent / "tests" / "clips"
TEXTS = json.loads((CLIPS / "texts.json").read_text(encoding="utf-8"))
TURNS = ("hello.wav", "numbers.flac", "speech.mp3")
RATE = 24000
DELTA = "conversation.item.input_audio_transcription.delta"
COMPLETED = "conversation.item.input_audio_transcription.completed"
NAN = float("nan")
TOML = "[live]\nkeep = false\nmax_sessions = 16\nmax_sessions_per_key = 0\n"


def live_toml(first_partial: float, interval: float, workers: int) -> str:
    return TOML + f"first_partial_seconds = {first_partial}\npartial_interval = {interval}\nworkers = {workers}\n"


@dataclass
class Run:
    started: float = 0.0
    first_delta: dict[str, float] = field(default_factory=dict)  # item -> seconds into the clip
    completed: dict[str, float] = field(default_factory=dict)
    items: list[str] = field(default_factory=list)  # in order of commit
    transcripts: list[str] = field(default_factory=list)

    def latencies(self, spans: list[tuple[float, float]]) -> tuple[list[float], list[float]]:
        """Per turn matched to the clip's speech spans in order: (first text - start, final - end)."""
        first = [
            self.first_delta.get(i, self.completed.get(i, float("nan"))) - s
            for i, (s, _) in zip(self.items, spans, strict=False)
        ]
        final = [self.completed.get(i, float("nan")) - e for i, (_, e) in zip(self.items, spans, strict=False)]
        return first, final


def clip() -> tuple[bytes, list[tuple[float, float]]]:
    """The session's audio (PCM16 at 24 kHz) and its stretches of speech (s), by offline Silero VAD
    without padding: where the voice starts and stops. (faster-whisper's default pads each span by
    400 ms, a margin for decoding, which put "speech start" 0.4 s before anyone spoke.)"""
    quiet = bytes(2 * RATE)
    data = b"".join(file_pcm(CLIPS / name, RATE) + quiet for name in TURNS) + bytes(RATE)
    resampler = PcmResampler(RATE)
    samples = np.concatenate([resampler.feed(data), resampler.flush()])
    spans = get_speech_timestamps(samples, VadOptions(min_silence_duration_ms=500, speech_pad_ms=0))
    return data, [(span["start"] / 16000, span["end"] / 16000) for span in spans]


def wav(path: Path, data: bytes, rate: int) -> Path:
    import wave

    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(data)
    return path


async def speak(url: str, data: bytes) -> Run:
    run = Run()
    ws_url = url.replace("http://", "ws://") + "/v1/realtime?intent=transcription"
    async with aiohttp.ClientSession() as http, http.ws_connect(ws_url) as ws:
        await ws.send_json(session_update(RATE, "en"))
        committed, done = 0, asyncio.Event()

        async def read() -> None:
            nonlocal committed
            async for msg in ws:
                event = json.loads(msg.data)
                now = time.monotonic()
                if event["type"] == "input_audio_buffer.committed":
                    committed += 1
                    run.items.append(event["item_id"])
                elif event["type"] == DELTA:
                    run.first_delta.setdefault(event["item_id"], now - run.started)
                elif event["type"] == COMPLETED:
                    run.transcripts.append(event["transcript"])
                    run.completed[event["item_id"]] = now - run.started
                    if done.is_set() and len(run.transcripts) >= committed:
                        return
                elif event["type"] == "error":
                    if event["error"]["code"] != "input_audio_buffer_commit_empty":
                        raise RuntimeError(event["error"])
                    if len(run.transcripts) >= committed:  # nothing was left to commit
                        return

        reading = asyncio.create_task(read())
        await asyncio.sleep(0.5)  # session.updated before the audio starts
        run.started = time.monotonic()
        async for chunk in paced(data, RATE, 1.0):
            await ws.send_json({"type": "input_audio_buffer.append", "audio": base64.b64encode(chunk).decode()})
        done.set()
        await ws.send_json({"type": "input_audio_buffer.commit"})  # ends the last turn now if VAD has not
        await asyncio.wait_for(reading, 120)
    return run


async def file_text(srv: Server, path: Path) -> str:
    async with session(srv.url) as http:
        job = await submit(http, path, language="en")
        await wait_job(http, job, 0.2)
        async with http.get(f"/status/{job.job_id}") as resp:
            return str((await resp.json())["text"])


async def busy(srv: Server, long_wav: Path) -> list[str]:
    """Two long file jobs, running on both workers."""
    async with session(srv.url) as http:
        jobs = [await submit(http, long_wav, language="en") for _ in range(2)]
        for _ in range(100):
            states = []
            for job in jobs:
                async with http.get(f"/status/{job.job_id}") as resp:
                    states.append((await resp.json())["status"])
            if states == ["running", "running"]:
                break
            await asyncio.sleep(0.2)
    return [j.job_id for j in jobs]


async def cancel(srv: Server, job_ids: list[str]) -> None:
    async with session(srv.url) as http:
        for job_id in job_ids:
            async with http.post(f"/jobs/{job_id}/cancel"):
                pass


def row(model: str, load: str, runs: list[Run], spans: list[tuple[float, float]], file: str) -> str:
    text = [" ".join(r.transcripts) for r in runs]
    firsts = [v for r in runs for v in r.latencies(spans)[0]]
    finals = [v for r in runs for v in r.latencies(spans)[1]]
    first, final = (
        f"{statistics.median(firsts):.2f} (max {max(firsts):.2f})",
        f"{statistics.median(finals):.2f} (max {max(finals):.2f})",
    )
    reference = " ".join(TEXTS[n] for n in TURNS)
    live_vs_file = statistics.median([word_error_rate(file, t) for t in text]) * 100
    live_vs_ref = statistics.median([word_error_rate(reference, t) for t in text]) * 100
    file_vs_ref = word_error_rate(reference, file) * 100
    return (
        f"| {model} | {load} | {len(runs)} | {first} | {final} | {live_vs_file:.1f} |"
        f" {live_vs_ref:.1f} | {file_vs_ref:.1f} |"
    )


def _shown(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} (max {max(values):.2f})"


async def main(models: list[str], sessions: list[int], work: Path, toml: str) -> None:
    started = CpuTimes.now()
    data, spans = clip()
    clip_wav = wav(work / "clip.wav", data, RATE)
    long_data = b"".join(file_pcm(CLIPS / n, 16000) for n in ("speech.ogg", "speech.mp3", "numbers.flac")) * 12
    long_wav = wav(work / "long.wav", long_data, 16000)
    turns = ", ".join(f"{a:.1f}-{b:.1f}" for a, b in spans)
    print(f"clip {len(data) / 2 / RATE:.1f} s, speech at {turns} s; file jobs {len(long_data) / 32000:.0f} s each")
    print(
        "| model | file jobs | sessions | first text after turn start (s) | final after turn end (s) |"
        " WER live vs file (%) | WER live vs reference (%) | WER file vs reference (%) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    memory: list[str] = []
    for model in models:
        async with Server(ServerConfig(model, toml=toml), work, work / "models") as srv:
            file = await file_text(srv, clip_wav)
            await speak(srv.url, data[: RATE * 4])  # loads the live replica: not measured
            for load in ("none", "2 long jobs"):
                job_ids = await busy(srv, long_wav) if load != "none" else []
                for count in sessions:
                    runs = await asyncio.gather(*(speak(srv.url, data) for _ in range(count)))
                    print(row(model, load, list(runs), spans, file), flush=True)
                await cancel(srv, job_ids)
            memory.append(f"{model}: RSS idle {srv.idle_rss:.0f} MiB, peak {srv.peak_rss:.0f} MiB")
    print("; ".join(memory))
    print(describe(started, {}).header())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.live", description=__doc__)
    parser.add_argument("--models", default="tiny.en,base")
    parser.add_argument("--sessions", default="1,2", help="sessions at once, comma-separated")
    parser.add_argument("--first-partial", type=float, default=0.8, help="[live] first_partial_seconds")
    parser.add_argument("--live-workers", type=int, default=2, help="[live] workers: model replicas for sessions")
    parser.add_argument("--interval", type=float, default=0.5, help="[live] partial_interval")
    args = parser.parse_args()
    toml = live_toml(args.first_partial, args.interval, args.live_workers)
    print(
        f"first partial after {args.first_partial} s of a turn, then every {args.interval} s;"
        f" live workers {args.live_workers}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
        sessions = [int(n) for n in args.sessions.split(",")]
        asyncio.run(main(args.models.split(","), sessions, Path(tmp), toml))
