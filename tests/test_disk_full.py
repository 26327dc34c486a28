"""A disk or database that fills up under running jobs: no worker dies, the job that could not be
finished goes back to the queue without using an attempt, /health says disk_full, and everything
queued runs by itself once space is back. A real full SQLite database (PRAGMA max_page_count on
the server's own connection) and a real full file system (a small tmpfs, as root)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MakeClient, Mount, needs_root
from tests.support import CLIPS, Client, FakeEngine, form, submit, tone_wav, wait_status
from tests.test_errors import expect_error
from transcriber.clock import utc_after, utcnow
from transcriber.domain.options import JobOptions
from transcriber.outputs.transcript import Segment, Transcript
from transcriber.speech.engine import SegmentCallback
from transcriber.web import keys

WORDY = "lorem ipsum dolor sit amet " * 400  # 10 KB per segment: the finished row needs new pages


class WordyEngine(FakeEngine):
    """The fake engine with long segments, so that recording a transcript must grow the database."""

    def transcribe(
        self, path: Path, duration: float, options: JobOptions, on_segment: SegmentCallback, *, wide: bool = False
    ) -> Transcript:
        plain = super().transcribe(path, duration, options, on_segment)
        segments = tuple(Segment(s.start, s.end, f"{s.text} {WORDY}") for s in plain.segments)
        return Transcript(plain.language, plain.language_probability, plain.duration, segments)


async def wait_health(client: Client, status: int, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (resp := await client.get("/health")).status != status:
        assert time.monotonic() < deadline, await resp.text()
        await asyncio.sleep(0.05)
    body: dict[str, Any] = await resp.json()
    return body


def attempts(data_dir: Path) -> dict[str, tuple[str, int]]:
    with sqlite3.connect(data_dir / "jobs.db") as db:
        return {r[0]: (r[1], r[2]) for r in db.execute("SELECT job_id, status, attempts FROM jobs")}


async def test_full_database_puts_the_job_back_and_everything_runs_once_space_returns(
    make_client: MakeClient, tmp_path: Path
) -> None:
    engine = WordyEngine(auto=False)
    client = await make_client(engine, limits={"min_free_disk_mb": 0})
    data_dir = tmp_path / "data"
    await submit(client, tone_wav(tmp_path / "long.wav", 4), job_id="long")
    await wait_status(client, "long", ("running",))
    for name in ("s1", "s2"):
        await submit(client, tone_wav(tmp_path / f"{name}.wav", 1), job_id=name)
    store = client.app[keys.STORE]
    pages = (await store.rows("PRAGMA page_count"))[0]["page_count"]
    await store.rows(f"PRAGMA max_page_count = {pages}")  # the database is full from here on
    for gate in engine.gates.values():
        gate.set()
    engine.auto = True
    health = await wait_health(client, 503)
    assert health["status"] == "degraded" and any(p.startswith("disk_full") for p in health["problems"]), health
    await wait_status(client, "long", ("queued",))
    await asyncio.sleep(1.5)  # the outage holds: nothing runs, nothing is lost, nothing fails
    assert attempts(data_dir) == {"long": ("queued", 0), "s1": ("queued", 0), "s2": ("queued", 0)}
    await store.rows("PRAGMA max_page_count = 1073741823")  # space is back
    for name in ("long", "s1", "s2"):
        assert (await wait_status(client, name, timeout=30))["status"] == "completed"
    assert attempts(data_dir) == {"long": ("completed", 1), "s1": ("completed", 1), "s2": ("completed", 1)}
    assert WORDY.strip() in (await (await client.get("/jobs/long/transcript.txt")).text())
    await wait_health(client, 200)


@needs_root
async def test_full_file_system_under_a_running_job_recovers_by_itself(
    make_client: MakeClient, tmp_path: Path, small_disk: Mount
) -> None:
    data_dir = small_disk(tmp_path / "data", 16 * 1024)  # jobs.db, uploads and results: all on 16 MB
    engine = WordyEngine(auto=False)
    client = await make_client(engine, data_dir=data_dir, limits={"min_free_disk_mb": 0})
    await submit(client, tone_wav(tmp_path / "long.wav", 4), job_id="long")
    await wait_status(client, "long", ("running",))
    await submit(client, tone_wav(tmp_path / "short.wav", 1), job_id="short")
    filler = data_dir / "filler"
    with filler.open("wb", buffering=0) as fh, pytest.raises(OSError):
        while True:
            fh.write(b"\0" * 65536)
    with filler.open("ab", buffering=0) as fh, pytest.raises(OSError):
        while True:
            fh.write(b"\0" * 512)
    for gate in engine.gates.values():
        gate.set()
    engine.auto = True
    health = await wait_health(client, 503)
    assert any(p.startswith("disk_full") for p in health["problems"]), health
    refused = await client.post("/transcribe", data=form(CLIPS / "hello.wav", job_id="during"))
    await expect_error(refused, 507, "insufficient_storage")  # not a 202 that never runs
    await asyncio.sleep(1.0)
    assert (await wait_status(client, "short", ("queued",)))["status"] == "queued"
    filler.unlink()  # space returns
    for name in ("long", "short"):
        assert (await wait_status(client, name, timeout=30))["status"] == "completed"
    assert attempts(data_dir)["long"] == ("completed", 1)
    await wait_health(client, 200)
    assert (await client.post("/transcribe", data=form(CLIPS / "hello.wav", job_id="after"))).status == 202
    assert (await wait_status(client, "after"))["status"] == "completed"


@needs_root
async def test_results_that_never_fit_fail_disk_full_after_three_runs(
    make_client: MakeClient, tmp_path: Path, small_disk: Mount
) -> None:
    """Space for a probe but never for this job's results: a bounded number of runs, then disk_full."""
    results = small_disk(tmp_path / "data" / "results", 1024)
    filler = results / "filler"
    with filler.open("wb", buffering=0) as fh, pytest.raises(OSError):
        while True:
            fh.write(b"\0" * 4096)
    filler.write_bytes(b"\0" * (filler.stat().st_size - 200 * 1024))  # 200 KB free: a probe fits
    engine = WordyEngine()
    client = await make_client(engine, limits={"min_free_disk_mb": 0})
    await submit(client, tone_wav(tmp_path / "big.wav", 8), job_id="big")  # ~80 KB of text in 4 formats
    failed = await wait_status(client, "big", timeout=30)
    assert failed["status"] == "failed" and failed["error"]["code"] == "disk_full", failed
    assert engine.order == [8.0, 8.0, 8.0] and failed["attempts"] == 1, (engine.order, failed)
    assert not [p for p in results.iterdir() if p.name != "filler"]
    await wait_health(client, 200)  # the next probe finds room for small writes: the outage ends


@needs_root
async def test_delete_is_507_and_the_summary_relay_warns_once_on_a_full_disk(
    make_client: MakeClient, tmp_path: Path, small_disk: Mount, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = small_disk(tmp_path / "data", 16 * 1024)
    client = await make_client(FakeEngine(), data_dir=data_dir, limits={"min_free_disk_mb": 0}, summarizer={})
    for name in ("a", "b"):
        await submit(client, tone_wav(tmp_path / f"{name}.wav", 1), job_id=name)
        await wait_summary(client, name, "completed")
    with sqlite3.connect(data_dir / "jobs.db") as db:  # b's summary is asked for again, due in a moment
        db.execute("UPDATE jobs SET summary_status = 'pending' WHERE job_id = 'b'")
        db.execute(
            "INSERT INTO summary_outbox (job_id, state, attempts, next_attempt_at, created_at) VALUES (?, ?, 0, ?, ?)",
            ("b", "pending", utc_after(0.5), utcnow()),
        )
    caplog.set_level(logging.INFO, logger="transcriber")
    fill(data_dir / "filler")
    await expect_error(await client.delete("/jobs/a"), 507, "insufficient_storage")
    deadline = time.monotonic() + 10
    while not [r for r in caplog.records if r.name.startswith("transcriber.notify") and r.levelno == logging.WARNING]:
        assert time.monotonic() < deadline, caplog.text
        await asyncio.sleep(0.05)
    await asyncio.sleep(2.0)  # the outage goes on: the relay keeps trying, quietly
    relay = [r for r in caplog.records if r.name.startswith("transcriber.notify") and r.levelno >= logging.WARNING]
    assert len(relay) == 1 and relay[0].levelno == logging.WARNING and not relay[0].exc_info, caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    (data_dir / "filler").unlink()
    await wait_summary(client, "b", "completed")
    assert (await client.delete("/jobs/a")).status == 200


def fill(filler: Path) -> None:
    """Write until the file system refuses another byte."""
    for size in (65536, 512):
        with filler.open("ab", buffering=0) as fh, pytest.raises(OSError):
            while True:
                fh.write(b"\0" * size)


async def wait_summary(client: Client, job_id: str, want: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while (body := await (await client.get(f"/status/{job_id}")).json())["summary"]["status"] != want:
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.05)
