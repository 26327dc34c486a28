"""channels=split end to end: a two-channel call comes out as a dialogue in every format."""

from __future__ import annotations

import json
import re
from pathlib import Path

from bench.wer import word_error_rate
from tests.support import CLIPS, TEXTS, Client, form_with, make_settings, submit, wait_status
from transcriber.domain.options import JobOptions
from transcriber.outputs.transcript import turns
from transcriber.speech.loader import load_engine

TURNS = [
    ("Agent", "Hello, this is the support desk. How can I help you?"),
    ("Caller", "Hi, my printer does not print any pages."),
    ("Agent", "Please turn it off and on again."),
    ("Caller", "Thank you, now it works fine."),
]


async def _files(client: Client, job_id: str) -> dict[str, str]:
    out = {}
    for fmt in ("txt", "srt", "vtt", "json"):
        resp = await client.get(f"/jobs/{job_id}/transcript.{fmt}")
        assert resp.status == 200
        out[fmt] = await resp.text()
    return out


async def test_stereo_call_is_a_dialogue_in_every_format(client: Client) -> None:
    job = await submit(client, CLIPS / "stereo.ogg", channels="split", speakers="Agent, Caller")
    status = await wait_status(client, job["job_id"])
    assert status["status"] == "completed", status
    files = await _files(client, job["job_id"])
    lines = files["txt"].splitlines()
    assert [line.split(":")[0] for line in lines] == [name for name, _ in TURNS], files["txt"]
    for line, (name, said) in zip(lines, TURNS, strict=True):
        assert word_error_rate(said, line.removeprefix(f"{name}:")) <= 0.3, line
    assert status["text"] == files["txt"].rstrip("\n")  # the summary gets who said what too
    segments = json.loads(files["json"])["segments"]
    assert [s["speaker"] for s in segments] == [name for name, _ in TURNS]
    assert [s["start"] for s in segments] == sorted(s["start"] for s in segments)
    # A long turn may take several readable cues; each names its speaker, so the turns read in order.
    cues = [line.split(":")[0] for line in files["srt"].splitlines() if line.startswith(("Agent: ", "Caller: "))]
    assert [name for i, name in enumerate(cues) if i == 0 or cues[i - 1] != name] == [n for n, _ in TURNS]
    voices = re.findall(r"^<v (Agent|Caller)>", files["vtt"], flags=re.M)
    assert [name for i, name in enumerate(voices) if i == 0 or voices[i - 1] != name] == [n for n, _ in TURNS]
    assert word_error_rate(TEXTS["stereo.ogg"], " ".join(s["text"] for s in segments)) <= 0.2


async def test_channels_default_to_channel_labels(client: Client) -> None:
    job = await submit(client, CLIPS / "stereo.ogg", channels="split")
    status = await wait_status(client, job["job_id"])
    assert status["text"].splitlines()[0].startswith("channel_0: Hello"), status["text"]
    assert status["text"].splitlines()[1].startswith("channel_1: "), status["text"]


async def test_bad_channel_fields_are_400(client: Client) -> None:
    cases = [
        ({"channels": "both"}, "invalid_channels", "stereo.ogg"),
        ({"speakers": "Ann,Bob"}, "invalid_speakers", "stereo.ogg"),  # names need channels=split
        ({"channels": "split", "speakers": "Ann,Bob,Cy"}, "invalid_speakers", "stereo.ogg"),
        ({"channels": "split", "speakers": "Ann:1,Bob"}, "invalid_speakers", "stereo.ogg"),
        ({"channels": "split", "speakers": "Ann,Ann"}, "invalid_speakers", "stereo.ogg"),
        ({"channels": "split"}, "invalid_channels", "speech.ogg"),  # a mono file cannot be split
    ]
    for fields, code, clip in cases:
        resp = await client.post("/transcribe", data=form_with(CLIPS / clip, fields))
        body = await resp.json()
        assert resp.status == 400 and body["error"]["code"] == code, (fields, body)
    jobs = await (await client.get("/jobs")).json()
    assert not jobs["jobs"], "a refused upload must not leave a job"


def test_fast_mode_keeps_the_turns_apart(tmp_path: Path) -> None:
    """The batched pipeline would pack one channel's turns into one window and one segment."""
    engine = load_engine(make_settings(tmp_path, whisper={"fast_mode": True}))
    options = JobOptions(channels="split", speakers=("Agent", "Caller"))
    transcript = engine.transcribe(CLIPS / "stereo.ogg", 15.0, options, lambda _s, _l: None)
    assert [speaker for speaker, _ in turns(transcript.segments)] == [name for name, _ in TURNS], transcript.text
