"""Diarization of mono recordings: two real voices taking turns, through a real server and model."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from tests.conftest import MakeClient
from tests.support import CLIPS, Client, form, form_with, submit, wait_status
from tests.test_summaries import wait_summary
from transcriber.outputs.speakers import Turn, assign
from transcriber.outputs.transcript import Segment, Word
from transcriber.speech import voice_encoder
from transcriber.speech.clustering import cluster
from transcriber.speech.engine import FasterWhisperEngine

TRUTH: list[dict[str, Any]] = json.loads((CLIPS / "dialogue.json").read_text(encoding="utf-8"))["turns"]


def _truth_at(moment: float) -> str | None:
    for turn in TRUTH:
        if turn["start"] - 0.35 <= moment <= turn["end"] + 0.35:
            return str(turn["speaker"])
    return None


def test_numpy_encoder_matches_torch_on_the_stored_reference() -> None:
    stored = voice_encoder.weights()
    ours = voice_encoder.embed_frames(stored["check_input"])
    assert np.min(np.sum(ours * stored["check_output"], axis=1)) > 0.99999
    assert "Resemblyzer 0.1.4" in voice_encoder.source() and "sha256" in voice_encoder.source()


def test_clustering_respects_the_bounds() -> None:
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(3, 256))
    vectors = np.concatenate([c + 0.05 * rng.normal(size=(10, 256)) for c in centres]).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    assert len(set(cluster(vectors))) == 3
    assert len(set(cluster(vectors, max_speakers=2))) == 2
    assert len(set(cluster(vectors, min_speakers=5))) == 5
    assert cluster(vectors[:1]) == [0]


def test_a_speaker_change_inside_a_segment_splits_it() -> None:
    words = (Word(0.0, 0.5, " Hi", 0.9), Word(0.5, 1.0, " there.", 0.9), Word(2.0, 2.5, " Hello.", 0.9))
    turns = [Turn(0.0, 1.2, 0), Turn(1.8, 3.0, 1)]
    out, ids = assign([Segment(0.0, 2.5, " Hi there. Hello.", words)], turns)
    assert ids == {0: "S1", 1: "S2"}
    assert [(s.speaker, s.text, s.start, s.end) for s in out] == [
        ("S1", " Hi there.", 0.0, 1.0),
        ("S2", " Hello.", 2.0, 2.5),
    ]
    assert [w.speaker for s in out for w in s.words or ()] == ["S1", "S1", "S2"]


async def test_two_real_voices_are_told_apart(make_client: MakeClient, tiny_engine: FasterWhisperEngine) -> None:
    """One diarized job on two real readers: words, files, an enrolled voice recognised, renames."""
    client: Client = await make_client(tiny_engine, summarizer={"enabled": True})  # in-process, extractive
    resp = await client.post("/voices", data=form(CLIPS / "voice_b.ogg", name="Boris"))  # more of reader B
    assert resp.status == 201, await resp.json()
    job = await submit(client, CLIPS / "dialogue.ogg", diarize="true")
    status = await wait_summary(client, job["job_id"])
    assert status["status"] == "completed", status
    # The summary says who said what: each picked sentence keeps its speaker.
    summary_lines = status["summary"]["text"].splitlines()
    assert summary_lines and all(line.startswith(("S1: ", "Boris: ")) for line in summary_lines), summary_lines
    # Reader B's enrolled voice names S2 in another recording; JFK (S1) is nobody's voice: refused.
    assert [(s["id"], s["name"]) for s in status["speakers"]] == [("S1", "S1"), ("S2", "Boris")], status
    assert all(s["seconds"] > 3 and "voice" not in s for s in status["speakers"])
    base = f"/jobs/{job['job_id']}/transcript"
    document = json.loads(await (await client.get(f"{base}.json")).text())
    words = [w for s in document["segments"] for w in s["words"]]
    assert all(s["speaker"] in ("S1", "S2") for s in document["segments"])
    assert all(w["speaker"] == s["speaker"] for s in document["segments"] for w in s["words"])
    mapping = {"S1": "A", "S2": "B"}  # the first voice heard is S1
    judged = [(mapping[w["speaker"]], _truth_at((w["start"] + w["end"]) / 2)) for w in words]
    right = sum(got == want for got, want in judged if want is not None)
    assert right / len([j for j in judged if j[1] is not None]) >= 0.9, judged
    txt = await (await client.get(f"{base}.txt")).text()
    assert [line.split(":")[0] for line in txt.splitlines()] == ["S1", "Boris", "S1", "Boris"], txt
    vtt = await (await client.get(f"{base}.vtt")).text()
    assert set(re.findall(r"<v ([^>]+)>", vtt)) == {"S1", "Boris"}
    assert status["text"].startswith("S1: ")
    # A speaker of a finished job can be enrolled too.
    resp = await client.post("/voices", json={"name": "Jack", "job_id": job["job_id"], "speaker": "S1"})
    assert resp.status == 201, await resp.json()
    assert [v["name"] for v in (await (await client.get("/voices")).json())["voices"]] == ["Boris", "Jack"]
    await _renames_follow(client, job["job_id"], txt)


async def _renames_follow(client: Client, job_id: str, txt_before: str) -> None:
    """PATCH /jobs/{id}/speakers: /status, txt/srt/vtt and json names follow; bad ones change nothing."""
    url, base = f"/jobs/{job_id}/speakers", f"/jobs/{job_id}/transcript"
    for body, code in (
        ({"S9": "Anna"}, "unknown_speaker"),
        ({"S1": "Anna: the boss"}, "invalid_speakers"),
        ({"S1": ""}, "invalid_speakers"),
        (["S1"], "invalid_speakers"),
    ):
        resp = await client.patch(url, json=body)
        assert resp.status == 400 and (await resp.json())["error"]["code"] == code, body
    resp = await client.patch(url, data=b"{not json")
    assert resp.status == 400
    assert await (await client.get(f"{base}.txt")).text() == txt_before
    resp = await client.patch(url, json={"S1": "Anna", "S2": "Boris"})
    status = await resp.json()
    assert resp.status == 200, status
    assert [(s["id"], s["name"]) for s in status["speakers"]] == [("S1", "Anna"), ("S2", "Boris")]
    assert status["text"].startswith("Anna: ") and "\nBoris: " in status["text"]
    txt = await (await client.get(f"{base}.txt")).text()
    assert txt == txt_before.replace("S1: ", "Anna: ")
    vtt = await (await client.get(f"{base}.vtt")).text()
    assert set(re.findall(r"<v ([^>]+)>", vtt)) == {"Anna", "Boris"}
    srt = await (await client.get(f"{base}.srt")).text()
    assert "Anna: " in srt and "S1" not in srt
    document = json.loads(await (await client.get(f"{base}.json")).text())
    assert {s["speaker"] for s in document["segments"]} == {"S1", "S2"}  # ids stay; names are listed
    assert document["speakers"][0]["name"] == "Anna"
    final = await (await client.get(f"/status/{job_id}")).json()
    assert final["speakers"][1]["name"] == "Boris"
    assert all(line.startswith(("Anna: ", "Boris: ")) for line in final["summary"]["text"].splitlines()), final


async def test_renaming_a_job_without_speakers_is_400(client: Client) -> None:
    job = await submit(client, CLIPS / "hello.wav")
    await wait_status(client, job["job_id"])
    resp = await client.patch(f"/jobs/{job['job_id']}/speakers", json={"S1": "Anna"})
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "unknown_speaker"
    resp = await client.patch("/jobs/nope/speakers", json={"S1": "Anna"})
    assert resp.status == 404


BAD_FIELDS = [
    ({"diarize": "maybe"}, "invalid_diarize"),
    ({"diarize": "true", "channels": "split"}, "invalid_diarize"),
    ({"diarize": "true", "min_speakers": "0"}, "invalid_speaker_count"),
    ({"diarize": "true", "max_speakers": "17"}, "invalid_speaker_count"),
    ({"diarize": "true", "min_speakers": "3", "max_speakers": "2"}, "invalid_speaker_count"),
    ({"diarize": "true", "max_speakers": "two"}, "invalid_speaker_count"),
    ({"min_speakers": "2"}, "invalid_speaker_count"),
]


async def test_bad_diarize_fields_are_400_and_leave_nothing(
    make_client: MakeClient, tiny_engine: FasterWhisperEngine, tmp_path: Path
) -> None:
    client: Client = await make_client(tiny_engine, data_dir=tmp_path / "data")
    for fields, code in BAD_FIELDS:
        resp = await client.post("/transcribe", data=form_with(CLIPS / "stereo.ogg", fields))
        body = await resp.json()
        assert resp.status == 400 and body["error"]["code"] == code, (fields, body)
    assert (await (await client.get("/jobs")).json())["jobs"] == []
    assert [p for p in (tmp_path / "data").rglob("*") if p.is_file() and "upload" in str(p)] == []
