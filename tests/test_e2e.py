"""End to end through real HTTP with the real tiny.en model: upload speech, poll, read results."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from bench.wer import normalise, word_error_rate
from tests.support import CLIPS, TEXTS, Client, form, submit, wait_status

# tiny.en on espeak speech: measured 0.00-0.10 per clip; the bound leaves room for CPU differences.
WER_BOUND = 0.2
ENGLISH = ["hello.wav", "speech.ogg", "speech.mp3", "clip.mp4"]


@pytest.mark.parametrize("name", ENGLISH)
async def test_clip_is_transcribed(client: Client, name: str) -> None:
    accepted = await submit(client, CLIPS / name)
    assert accepted["status"] == "queued"
    assert accepted["status_url"] == f"/status/{accepted['job_id']}"
    done = await wait_status(client, accepted["job_id"])
    assert done["status"] == "completed", done
    assert done["progress"] == 1.0
    assert done["language"] == "en"
    assert word_error_rate(TEXTS[name], done["text"]) < WER_BOUND, done["text"]


async def test_spoken_numbers(client: Client) -> None:
    # Whisper writes numbers as digits or words as it likes ("12"/"twelve"): compare the words only.
    done = await wait_status(client, (await submit(client, CLIPS / "numbers.flac"))["job_id"])
    assert {"meeting", "starts", "monday", "may"} <= set(normalise(done["text"]))


async def test_result_files_parse_and_match(client: Client, tmp_path: Path) -> None:
    job_id = (await submit(client, CLIPS / "speech.ogg", job_id="files-1", word_timestamps="true"))["job_id"]
    done = await wait_status(client, job_id)
    assert set(done["results"]) == {"txt", "srt", "vtt", "json"}
    bodies = {}
    for fmt, url in done["results"].items():
        resp = await client.get(url)
        assert resp.status == 200, fmt
        bodies[fmt] = await resp.text()
        on_disk = tmp_path / "data" / "results" / job_id / f"transcript.{fmt}"
        assert on_disk.read_text(encoding="utf-8") == bodies[fmt]
    doc = json.loads(bodies["json"])
    assert doc["language"] == "en" and doc["duration"] == pytest.approx(done["duration"])
    assert doc["settings"]["word_timestamps"] is True and doc["settings"]["beam_size"] == 5
    assert doc["provenance"]["model"] == "tiny.en"
    assert all(seg["words"] and seg["start"] <= seg["end"] for seg in doc["segments"])
    assert bodies["txt"].split() == " ".join(s["text"] for s in doc["segments"]).split()
    assert bodies["vtt"].startswith("WEBVTT")
    # readable cues: a long segment becomes several (how many depends on the decode), never fewer
    cues = bodies["srt"].count(" --> ")
    assert cues == bodies["vtt"].count(" --> ") and cues >= len(doc["segments"])
    srt_words = [
        w
        for line in bodies["srt"].splitlines()
        if line and " --> " not in line and not line.isdigit()
        for w in line.split()
    ]
    assert srt_words == bodies["txt"].split()


async def test_job_row_is_readable_in_sqlite(client: Client, tmp_path: Path) -> None:
    job_id = (await submit(client, CLIPS / "hello.wav", job_id="row-1", language="en"))["job_id"]
    await wait_status(client, job_id)
    with sqlite3.connect(tmp_path / "data" / "jobs.db") as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
    assert row["status"] == "completed" and row["attempts"] == 1 and row["progress"] == 1.0
    assert row["language"] == "en" and row["model"] == "tiny.en"
    assert "faster_whisper" in row["engine_version"] and "ctranslate2" in row["engine_version"]
    assert row["created_at"] <= row["started_at"] <= row["finished_at"]
    assert row["finished_at"].endswith("Z") and row["error_code"] is None
    assert json.loads(row["options"])["language"] == "en"
    assert row["upload_filename"] == "hello.wav" and row["duration"] > 1
    # the audio is kept after the job is done ([retention] keep_audio, true by default)
    assert (tmp_path / "data" / row["upload_path"]).is_file()


async def test_same_job_id_same_bytes_is_a_safe_retry(client: Client) -> None:
    first = await client.post("/transcribe", data=form(CLIPS / "hello.wav", job_id="retry-1"))
    assert first.status == 202
    assert first.headers["Location"] == "/status/retry-1"
    again = await client.post("/transcribe", data=form(CLIPS / "hello.wav", job_id="retry-1"))
    assert again.status == 200
    assert (await again.json())["job_id"] == "retry-1"
    other = await client.post("/transcribe", data=form(CLIPS / "numbers.flac", job_id="retry-1"))
    assert other.status == 409
    assert (await other.json())["error"]["code"] == "job_id_conflict"
    done = await wait_status(client, "retry-1")
    assert done["status"] == "completed" and done["attempts"] == 1


async def test_history_pagination_and_delete(client: Client, tmp_path: Path) -> None:
    for i in range(3):
        await submit(client, CLIPS / "hello.wav", job_id=f"h-{i}")
    for i in range(3):
        await wait_status(client, f"h-{i}")
    page1 = await (await client.get("/jobs?limit=2")).json()
    assert [j["job_id"] for j in page1["jobs"]] == ["h-2", "h-1"]
    page2 = await (await client.get(page1["next"])).json()
    assert [j["job_id"] for j in page2["jobs"]] == ["h-0"]
    completed = await (await client.get("/jobs?status=completed")).json()
    assert len(completed["jobs"]) == 3
    resp = await client.delete("/jobs/h-1")
    assert resp.status == 200
    assert (await client.get("/status/h-1")).status == 404
    assert not (tmp_path / "data" / "results" / "h-1").exists()
    assert (tmp_path / "data" / "results" / "h-0").exists()


async def test_translate_rejected_by_english_only_model(client: Client) -> None:
    resp = await client.post("/transcribe", data=form(CLIPS / "hello.wav", task="translate"))
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "unsupported_task"
    resp = await client.post("/transcribe", data=form(CLIPS / "hello.wav", language="ru"))
    assert (await resp.json())["error"]["code"] == "unsupported_language"
