"""The watch folder: files dropped in the inbox become jobs; results in the outbox; done/ and failed/."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path
from typing import Any

from tests.conftest import MakeClient
from tests.support import CLIPS, TEXTS, Client, FakeEngine
from transcriber.speech.engine import FasterWhisperEngine

FORMATS = ("txt", "srt", "vtt", "json")


def watch(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "watch": {"inbox": str(tmp_path / "inbox"), "outbox": str(tmp_path / "outbox"), "settle_seconds": 0.3, **extra}
    }


async def until(check: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def jobs(client: Client) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await (await client.get("/jobs")).json())["jobs"]
    return found


def drop(source: Path, inbox: Path, name: str | None = None) -> Path:
    """Copy the way a careful tool does: a hidden temporary name, then a rename into place."""
    inbox.mkdir(parents=True, exist_ok=True)
    target = inbox / (name or source.name)
    tmp = inbox / f".{target.name}.tmp"
    shutil.copyfile(source, tmp)
    tmp.rename(target)
    return target


async def test_a_dropped_recording_becomes_results_in_the_outbox(
    make_client: MakeClient, tiny_engine: FasterWhisperEngine, tmp_path: Path
) -> None:
    summaries = {"enabled": True, "max_sentences": 1}  # in-process, extractive
    client = await make_client(tiny_engine, summarizer=summaries, **watch(tmp_path))
    drop(CLIPS / "hello.wav", tmp_path / "inbox", "Meeting 1.wav")
    done = tmp_path / "inbox" / "done" / "Meeting 1.wav"
    await until(done.exists)
    outbox = tmp_path / "outbox"
    names = sorted(p.name for p in outbox.iterdir())
    assert names == sorted([f"Meeting 1.{fmt}" for fmt in FORMATS] + ["Meeting 1.summary.txt"])
    assert (outbox / "Meeting 1.summary.txt").read_text().strip()
    text = (outbox / "Meeting 1.txt").read_text()
    assert text.strip().lower()[:10] == TEXTS["hello.wav"].strip().lower()[:10]
    assert json.loads((outbox / "Meeting 1.json").read_text())["segments"]
    assert "-->" in (outbox / "Meeting 1.srt").read_text()
    assert done.read_bytes() == (CLIPS / "hello.wav").read_bytes()
    [job] = await jobs(client)
    assert job["status"] == "completed" and job["job_id"].startswith("watch-")


async def test_a_file_still_being_written_is_left_alone(
    make_client: MakeClient, fake_engine: FakeEngine, tmp_path: Path
) -> None:
    client = await make_client(fake_engine, **watch(tmp_path))
    inbox = tmp_path / "inbox"
    await until((inbox / "done").is_dir)
    data = (CLIPS / "speech.mp3").read_bytes()
    target = inbox / "slow.mp3"
    with target.open("wb") as out:  # written in place, a piece every 0.1 s: never still for 0.3 s
        for start in range(0, len(data), len(data) // 12):
            out.write(data[start : start + len(data) // 12])
            out.flush()
            await asyncio.sleep(0.1)
            assert await jobs(client) == [], "picked up while still being written"
    await until((inbox / "done" / "slow.mp3").exists)
    [job] = await jobs(client)
    assert job["status"] == "completed" and job["duration"] > 1


async def test_the_same_bytes_dropped_twice_run_once(
    make_client: MakeClient, fake_engine: FakeEngine, tmp_path: Path
) -> None:
    client = await make_client(fake_engine, **watch(tmp_path))
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    drop(CLIPS / "hello.wav", inbox, "first.wav")
    await until((inbox / "done" / "first.wav").exists)
    drop(CLIPS / "hello.wav", inbox, "second.wav")
    drop(CLIPS / "hello.wav", inbox, "first.wav")  # the very same name and bytes again
    await until(lambda: (inbox / "done" / "second.wav").exists() and not (inbox / "first.wav").exists())
    assert len(await jobs(client)) == 1
    assert (outbox / "first.txt").read_text() == (outbox / "second.txt").read_text()
    assert len(list((inbox / "done").glob("first*.wav"))) == 2  # both kept, neither overwritten


async def test_bad_files_go_to_failed_with_an_error_file(
    make_client: MakeClient, fake_engine: FakeEngine, tmp_path: Path
) -> None:
    client = await make_client(fake_engine, **watch(tmp_path))
    inbox = tmp_path / "inbox"
    inbox.mkdir(exist_ok=True)
    (inbox / "notes.wav").write_text("not audio at all\n" * 50)
    (inbox / "empty.mp3").write_bytes(b"")
    (inbox / "copying.mp3.part").write_bytes(b"half")  # a partial name: never touched
    (inbox / ".hidden.wav").write_bytes(b"x")
    (inbox / "zero.wav").symlink_to("/dev/zero")  # endless: never read
    (inbox / "elsewhere.wav").symlink_to(CLIPS / "hello.wav")  # another file: never read
    await until((inbox / "failed" / "empty.mp3.error.json").exists)
    await until((inbox / "failed" / "notes.wav.error.json").exists)
    notes = json.loads((inbox / "failed" / "notes.wav.error.json").read_text())
    assert notes["error"]["code"] == "not_audio" and notes["file"] == "notes.wav"
    assert json.loads((inbox / "failed" / "empty.mp3.error.json").read_text())["error"]["code"] == "empty_file"
    assert (inbox / "failed" / "notes.wav").exists() and (inbox / "copying.mp3.part").exists()
    assert (inbox / ".hidden.wav").exists()
    assert (inbox / "zero.wav").is_symlink() and (inbox / "elsewhere.wav").is_symlink()
    assert list((tmp_path / "outbox").iterdir()) == []
    assert await jobs(client) == []
    incoming = tmp_path / "data" / "uploads" / ".incoming"
    assert not incoming.exists() or list(incoming.iterdir()) == []


async def test_a_restart_mid_job_repeats_nothing(make_client: MakeClient, tmp_path: Path) -> None:
    """The first server takes the file and stops before the job ends; the second one finds the
    file still in the inbox, recognises its job by the bytes and finishes it: one job, one result."""
    data_dir = tmp_path / "data"
    stuck = FakeEngine(auto=False)
    first = await make_client(stuck, data_dir=data_dir, server={"shutdown_timeout": 0.5}, **watch(tmp_path))
    drop(CLIPS / "speech.mp3", tmp_path / "inbox")
    deadline = time.monotonic() + 30
    while not (listed := await jobs(first)) or listed[0]["status"] != "running":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    job_id = listed[0]["job_id"]
    await first.close()
    for gate in stuck.gates.values():
        gate.set()  # the old worker thread may end now; its server is gone
    second = await make_client(FakeEngine(), data_dir=data_dir, **watch(tmp_path))
    await until((tmp_path / "inbox" / "done" / "speech.mp3").exists)
    [job] = await jobs(second)
    assert (job["job_id"], job["status"]) == (job_id, "completed")
    assert (tmp_path / "outbox" / "speech.txt").read_text().strip()
