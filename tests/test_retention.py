"""Retention: old finished jobs go with their files (on a schedule and by `transcriber prune`),
keep_audio = false drops uploads when jobs end, and an interrupted prune leaves nothing behind."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.history import fill_sqlite
from tests.conftest import MakeClient
from tests.support import CLIPS, FakeEngine, form, wait_status
from transcriber.jobs import retention
from transcriber.store.backend import open_store


async def _finished_jobs(make_client: MakeClient, data_dir: Path, *job_ids: str, **sections: object) -> None:
    client = await make_client(FakeEngine(), data_dir=data_dir, **sections)
    for job_id in job_ids:
        assert (await client.post("/transcribe", data=form(CLIPS / "hello.wav", job_id=job_id))).status == 202
        assert (await wait_status(client, job_id))["status"] == "completed"
    await client.close()


def _age(data_dir: Path, job_id: str, days: int) -> None:
    with sqlite3.connect(data_dir / "jobs.db") as db:
        db.execute(
            "UPDATE jobs SET finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?) WHERE job_id = ?",
            (f"-{days} days", job_id),
        )


async def eventually(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "retention did not get there in time"
        await asyncio.sleep(0.05)


def _rows(data_dir: Path) -> dict[str, str | None]:
    with sqlite3.connect(data_dir / "jobs.db") as db:
        return dict(db.execute("SELECT job_id, upload_path FROM jobs").fetchall())


def _files(data_dir: Path) -> set[str]:
    return {str(p.relative_to(data_dir)) for p in data_dir.rglob("*") if p.is_file() and "jobs.db" not in p.name}


def prune_cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "transcriber", "--config", str(config), "prune", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


async def test_prune_command_removes_old_jobs_and_prints_them(make_client: MakeClient, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    await _finished_jobs(make_client, data_dir, "old", "new")
    uploads = _rows(data_dir)
    assert all(path and (data_dir / path).is_file() for path in uploads.values())  # keep_audio: true by default
    _age(data_dir, "old", 10)
    config = tmp_path / "config.toml"
    config.write_text(f'data_dir = "{data_dir}"\n')
    done = prune_cli(config, "--older-than", "7")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "removed old" in out and "removed 1 finished jobs" in out and "new" not in out
    assert set(_rows(data_dir)) == {"new"}
    files = _files(data_dir)
    assert not any("old" in f for f in files), files
    assert any(f.startswith("results/new/") for f in files) and uploads["new"] in files
    assert prune_cli(config).returncode == 2  # no age given, none configured


async def test_keep_days_prunes_on_a_schedule(make_client: MakeClient, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    await _finished_jobs(make_client, data_dir, "stale", "fresh")
    _age(data_dir, "stale", 3)
    client = await make_client(FakeEngine(), data_dir=data_dir, retention={"keep_days": 2})
    listed = await (await client.get("/jobs")).json()
    await eventually(lambda: "stale" not in _rows(data_dir) and not (data_dir / "results" / "stale").exists())
    listed = await (await client.get("/jobs")).json()
    assert [j["job_id"] for j in listed["jobs"]] == ["fresh"]
    assert not (data_dir / "results" / "stale").exists()


async def test_keep_audio_false_drops_the_upload_when_the_job_ends(make_client: MakeClient, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    await _finished_jobs(make_client, data_dir, "done", retention={"keep_audio": False})
    assert not (data_dir / str(_rows(data_dir)["done"])).exists()
    engine = FakeEngine(auto=False)
    client = await make_client(engine, data_dir=data_dir, retention={"keep_audio": False})
    for job_id in ("running", "queued"):
        assert (await client.post("/transcribe", data=form(CLIPS / "hello.wav", job_id=job_id))).status == 202
    assert (await client.post("/jobs/queued/cancel")).status == 200
    assert not (data_dir / str(_rows(data_dir)["queued"])).exists()
    for gate in engine.gates.values():
        gate.set()
    await wait_status(client, "running")


async def test_an_interrupted_prune_leaves_no_orphans(make_client: MakeClient, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    await _finished_jobs(make_client, data_dir, "gone", "kept")
    upload = _rows(data_dir)["gone"]
    with sqlite3.connect(data_dir / "jobs.db") as db:  # the row commit happened, the files did not go
        db.execute("DELETE FROM jobs WHERE job_id = 'gone'")
    (data_dir / "results" / ".kept.tmp").mkdir()  # a half-written set of a job that still exists
    client = await make_client(FakeEngine(), data_dir=data_dir)
    await eventually(lambda: not (data_dir / "results" / "gone").exists())
    assert (await client.get("/health")).status == 200
    files = _files(data_dir)
    assert not any("gone" in f for f in files) and not (data_dir / str(upload)).exists(), files
    assert any(f.startswith("results/kept/") for f in files)


async def test_prune_removes_a_big_history_in_batches_oldest_first(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    await (await open_store(data_dir / "jobs.db")).close()
    fill_sqlite(data_dir / "jobs.db", 30_000, queued=5, days=300)  # one finished every 14.4 minutes
    oldest, kept_upload = "hist-0000001", data_dir / "uploads" / "hist-0030000.0000abcd"
    for job_id in (oldest, "hist-0030000"):
        (data_dir / "results" / job_id).mkdir(parents=True)
        (data_dir / "results" / job_id / "transcript.txt").write_text("hi\n")
    (data_dir / "uploads").mkdir()
    (data_dir / "uploads" / "hist-0000001.0000abcd").write_bytes(b"RIFF")
    kept_upload.write_bytes(b"RIFF")
    store = await open_store(data_dir / "jobs.db")
    try:
        removed = await retention.prune(store, data_dir, 100.002)  # 200 of the 300 days go
    finally:
        await store.close()
    assert len(removed) == len(set(removed)) == 20_000 and removed[0] == oldest
    with sqlite3.connect(data_dir / "jobs.db") as db:
        left = dict(db.execute("SELECT status, count(*) FROM jobs GROUP BY status = 'queued'").fetchall())
        newest_gone = db.execute("SELECT min(job_id) FROM jobs").fetchone()[0]
    assert sum(left.values()) == 10_005 and newest_gone == "hist-0020001"
    assert not (data_dir / "results" / oldest).exists() and not (data_dir / "uploads" / f"{oldest}.0000abcd").exists()
    assert (data_dir / "results" / "hist-0030000" / "transcript.txt").is_file() and kept_upload.is_file()
