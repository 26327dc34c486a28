"""Scheduling through the real HTTP API: fairness, cancellation, stalls and /health while busy."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.conftest import MakeClient
from tests.support import CLIPS, Client, FakeEngine, speech_wav, submit, tone_wav, wait_status
from transcriber.speech.engine import FasterWhisperEngine


async def test_short_job_overtakes_long_ones(make_client: MakeClient, tmp_path: Path) -> None:
    engine = FakeEngine(auto=False)
    client = await make_client(engine)
    await submit(client, tone_wav(tmp_path / "first.wav", 20), job_id="first")
    await wait_status(client, "first", ("running",))
    await submit(client, tone_wav(tmp_path / "long.wav", 300), job_id="long")
    await submit(client, tone_wav(tmp_path / "short.wav", 10), job_id="short")
    long_status = await (await client.get("/status/long")).json()
    short_status = await (await client.get("/status/short")).json()
    assert (short_status["queue_position"], long_status["queue_position"]) == (1, 2)
    assert 0 < short_status["eta_seconds"] < long_status["eta_seconds"]
    engine.auto = True
    engine.gates[20.0].set()
    await wait_status(client, "long")
    assert engine.order == [20.0, 10.0, 300.0]


async def test_cancel_queued_and_running(make_client: MakeClient, tmp_path: Path) -> None:
    engine = FakeEngine(auto=False)
    client = await make_client(engine)
    await submit(client, tone_wav(tmp_path / "a.wav", 5), job_id="running")
    await submit(client, tone_wav(tmp_path / "b.wav", 6), job_id="queued")
    await wait_status(client, "running", ("running",))
    resp = await client.post("/jobs/queued/cancel")
    assert resp.status == 200 and (await resp.json())["status"] == "cancelled"
    resp = await client.post("/jobs/running/cancel")
    assert resp.status == 202
    engine.gates[5.0].set()  # the next segment boundary sees the cancel
    done = await wait_status(client, "running")
    assert done["status"] == "cancelled" and done["error"]["code"] == "cancelled"
    assert done["results"] is None
    assert not (tmp_path / "data" / "results" / "running").exists()
    assert 6.0 not in engine.order  # the cancelled queued job never ran
    assert (await client.delete("/jobs/running")).status == 200


async def test_stalled_worker_degrades_health(make_client: MakeClient, tmp_path: Path) -> None:
    engine = FakeEngine(auto=False)
    client = await make_client(engine, queue={"stall_seconds": 0.3})
    await submit(client, tone_wav(tmp_path / "a.wav", 1), job_id="stuck")
    await wait_status(client, "stuck", ("running",))
    deadline = time.monotonic() + 10
    while (resp := await client.get("/health")).status != 503:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    body = await resp.json()
    assert body["status"] == "degraded" and "stuck" in body["problems"][0]
    engine.gates[1.0].set()
    await wait_status(client, "stuck")
    assert (await client.get("/health")).status == 200


async def test_health_and_status_answer_while_transcribing(
    make_client: MakeClient, tiny_engine: FasterWhisperEngine, tmp_path: Path
) -> None:
    client = await make_client(tiny_engine)
    long_audio = speech_wav(tmp_path / "long.wav", ["speech.ogg", "speech.mp3"] * 3)
    job_id = (await submit(client, long_audio))["job_id"]
    running = await wait_status(client, job_id, ("running", "completed"))
    latencies, partial_texts = [], set()
    while running["status"] == "running":
        started = time.perf_counter()
        health = await client.get("/health")
        latencies.append(time.perf_counter() - started)
        assert health.status == 200
        running = await (await client.get(f"/status/{job_id}")).json()
        partial_texts.add(running["text"] or "")
        await asyncio.sleep(0.01)
    assert running["status"] == "completed"
    assert len(latencies) > 5, "the job finished before /health could be observed"
    # Not a timing target (that lives in bench/): the loop must stay responsive, not blocked for seconds.
    assert max(latencies) < 1.0, latencies
    assert len(partial_texts) > 1  # text grew while the job ran


async def test_language_detection_and_video_container(client: Client) -> None:
    job_id = (await submit(client, CLIPS / "clip.mp4", language="auto"))["job_id"]
    done = await wait_status(client, job_id)
    assert done["status"] == "completed" and done["language"] == "en"
