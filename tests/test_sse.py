"""Live events through real HTTP with the real tiny.en model: order, progress, resumption, keys."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

from tests.conftest import MakeClient
from tests.sse_client import Message, SSEReader
from tests.support import CLIPS, Client, FakeEngine, form, speech_wav, submit, tone_wav, wait_status
from transcriber.logs import SecretRedactor
from transcriber.speech.engine import FasterWhisperEngine
from transcriber.web import keys


def statuses(messages: list[Message], job_id: str) -> list[str]:
    return [m.body["status"] for m in messages if m.event == "status" and m.body["job_id"] == job_id]


def seq(event_id: str | None) -> int:
    assert event_id is not None
    return int(event_id.rpartition("-")[2])


async def open_stream(client: Client, path: str, **headers: str) -> SSEReader:
    resp = await client.get(path, headers=headers)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    return SSEReader(resp)


async def test_client_sees_queued_running_with_rising_progress_then_completed(
    make_client: MakeClient, tiny_engine: FasterWhisperEngine, tmp_path: Path
) -> None:
    client = await make_client(tiny_engine)
    stream = await open_stream(client, "/events")
    audio = speech_wav(tmp_path / "long.wav", ["speech.ogg", "speech.mp3"] * 3)  # ~80 s: three windows
    job_id = (await submit(client, audio))["job_id"]
    seen = await stream.until(job_id, ("completed", "failed"))
    order = statuses(seen, job_id)
    assert order[0] == "queued" and order[-1] == "completed", order
    assert order.index("running") < order.index("completed")
    running = [m.body for m in seen if m.event == "status" and m.body["status"] == "running"]
    progress = [b["progress"] for b in running]
    assert len(set(progress)) >= 2 and progress == sorted(progress) and progress[-1] > progress[0], progress
    assert any(b["text"] for b in running), "running events carry the text so far"
    ids = [seq(m.id) for m in seen]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    final = seen[-1].body
    assert final["results"]["srt"] == f"/jobs/{job_id}/transcript.srt" and "ships" in final["text"].lower()
    stream.response.close()


async def test_job_stream_starts_with_current_state_and_ends_after_the_last_event(
    make_client: MakeClient, tiny_engine: FasterWhisperEngine
) -> None:
    client = await make_client(tiny_engine)
    job_id = (await submit(client, CLIPS / "hello.wav"))["job_id"]
    stream = await open_stream(client, f"/jobs/{job_id}/events")
    seen = []
    while (message := await stream.next()) is not None:
        seen.append(message)
    assert statuses(seen, job_id)[-1] == "completed" and {m.body["job_id"] for m in seen} == {job_id}
    # A finished job's stream is its current state, then the end.
    stream = await open_stream(client, f"/jobs/{job_id}/events")
    first = await stream.next()
    assert first is not None and first.body["status"] == "completed" and first.id is not None
    assert await stream.next() is None
    resp = await client.get("/jobs/nope/events")
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "job_not_found"


async def test_job_stream_waits_for_the_summary_when_summaries_are_on(
    make_client: MakeClient, tiny_engine: FasterWhisperEngine
) -> None:
    client = await make_client(tiny_engine, summarizer={"enabled": True, "max_sentences": 1})
    job_id = (await submit(client, CLIPS / "speech.ogg"))["job_id"]
    stream = await open_stream(client, f"/jobs/{job_id}/events")
    seen = [m.body async for m in _drain(stream)]
    assert seen[-1]["summary"]["status"] == "completed" and "weather" in seen[-1]["summary"]["text"]
    # Every earlier event left something to wait for: the job, or its summary.
    assert all(b["status"] != "completed" or b["summary"]["status"] != "completed" for b in seen[:-1])


async def test_resume_with_last_event_id_after_a_dropped_connection(
    make_client: MakeClient, tiny_engine: FasterWhisperEngine, tmp_path: Path
) -> None:
    client = await make_client(tiny_engine)
    stream = await open_stream(client, "/events")
    audio = speech_wav(tmp_path / "long.wav", ["speech.ogg", "speech.mp3"] * 2)
    job_id = (await submit(client, audio))["job_id"]
    before = await stream.until(job_id, ("running",))
    last = stream.last_id
    stream.response.close()  # the connection drops while the job runs
    await wait_status(client, job_id)
    resumed = await open_stream(client, "/events", **{"Last-Event-ID": str(last)})
    missed = await resumed.until(job_id, ("completed",))
    assert seq(missed[0].id) == seq(last) + 1, "replay starts right after the last event seen"
    got = [seq(m.id) for m in missed]
    assert got == list(range(seq(last) + 1, seq(last) + 1 + len(got))), "nothing missed, nothing repeated"
    assert statuses(before, job_id)[-1] == "running" and statuses(missed, job_id)[-1] == "completed"
    resumed.response.close()
    # The per-job stream resumes the same way, with the id in the query (a fresh EventSource).
    again = await open_stream(client, f"/jobs/{job_id}/events?last_event_id={last}")
    replay = [m async for m in _drain(again)]
    assert [seq(m.id) for m in replay] == got and statuses(replay, job_id)[-1] == "completed"


async def test_an_id_from_another_process_gets_the_current_state(
    make_client: MakeClient, tiny_engine: FasterWhisperEngine
) -> None:
    client = await make_client(tiny_engine)
    done = (await submit(client, CLIPS / "hello.wav", job_id="old"))["job_id"]
    await wait_status(client, done)
    epoch = client.app[keys.EVENTS].epoch
    for stale in (f"{epoch - 60_000}-3", "garbage", f"{epoch}-999999"):
        stream = await open_stream(client, "/events", **{"Last-Event-ID": stale})
        message = await stream.next()
        assert message is not None and message.body["job_id"] == "old" and message.body["status"] == "completed"
        assert message.id is not None and message.id.startswith(f"{epoch}-")
        stream.response.close()


async def test_keep_alive_comments_and_delete_event(make_client: MakeClient, tmp_path: Path) -> None:
    client = await make_client(FakeEngine())
    client.app[keys.EVENTS].keepalive = 0.2
    stream = await open_stream(client, "/events")
    await submit(client, tone_wav(tmp_path / "a.wav", 2), job_id="gone")
    await stream.until("gone", ("completed",))
    await asyncio.sleep(0.5)
    assert (await client.delete("/jobs/gone")).status == 200
    message = await stream.next()
    assert message is not None and message.event == "deleted" and message.body == {"job_id": "gone", "deleted": True}
    assert "keep-alive" in stream.comments


async def test_queued_jobs_get_their_new_position_when_the_queue_moves(make_client: MakeClient, tmp_path: Path) -> None:
    engine = FakeEngine(auto=False)
    client = await make_client(engine)
    stream = await open_stream(client, "/events")
    for name, seconds in (("a", 2), ("b", 3), ("c", 4)):
        await submit(client, tone_wav(tmp_path / f"{name}.wav", seconds), job_id=name)
    seen = await stream.until("c", ("queued",))
    assert [m.body["queue_position"] for m in seen if m.body["job_id"] == "c"] == [2]
    assert (await client.post("/jobs/b/cancel")).status == 200
    moved = await stream.until("c", ("queued",))
    assert moved[-1].body["queue_position"] == 1 and "cancelled" in statuses(moved, "b")
    for gate in (2.0, 4.0):
        engine.gates.setdefault(gate, threading.Event()).set()
    await stream.until("c", ("completed",))


async def test_api_keys_apply_and_access_token_works_on_browser_get_routes(
    make_client: MakeClient, tmp_path: Path
) -> None:
    client = await make_client(FakeEngine(), server={"api_keys": ["sekret"]}, retention={"keep_audio": True})
    assert (await client.get("/events")).status == 401
    assert (await client.get("/events?access_token=wrong")).status == 401
    bearer = {"Authorization": "Bearer sekret"}
    resp = await client.post("/transcribe?access_token=sekret", data=b"")
    assert resp.status == 401, "the query token only counts on GET routes a browser opens"
    job = await client.post("/transcribe", data=form(tone_wav(tmp_path / "k.wav", 1), job_id="k"), headers=bearer)
    assert job.status == 202
    await wait_status(client, "k", headers=bearer)
    stream = await open_stream(client, "/jobs/k/events?access_token=sekret")
    assert (await stream.next()) is not None
    assert (await client.get("/jobs/k/audio?access_token=sekret")).status == 200
    assert (await client.get("/jobs/k/transcript.txt?access_token=sekret")).status == 200
    assert (await client.get("/status/k?access_token=sekret")).status == 401
    assert (await client.get("/")).status == 200, "the page itself is open; it asks for the key"


async def _drain(stream: SSEReader) -> AsyncIterator[Message]:
    while (message := await stream.next()) is not None:
        yield message


def test_access_tokens_in_urls_are_redacted_from_logs() -> None:
    line = SecretRedactor(["a+b/c"]).redact('127.0.0.1 "GET /events?access_token=a%2Bb%2Fc&x=1 HTTP/1.1" 200')
    assert "a%2Bb" not in line and "access_token=***&x=1" in line, line
