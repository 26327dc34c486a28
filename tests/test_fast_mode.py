"""Fast mode: windows detected from the encoder pass that decodes them, parts decoded at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.wer import word_error_rate
from tests.conftest import MakeClient
from tests.support import CLIPS, TEXTS, make_settings, speech_wav, submit, wait_status
from tests.test_languages import assert_english_then_german
from transcriber.domain.options import JobOptions
from transcriber.outputs.transcript import Segment
from transcriber.speech import audio, parts
from transcriber.speech.engine import FasterWhisperEngine
from transcriber.speech.loader import load_engine

PASSAGES = ["speech.ogg", "speech.mp3", "hello.wav", "numbers.flac", "speech.ogg", "speech.mp3", "pauses.ogg"] * 2


class Stop(Exception):
    """What a cancelled job's progress callback raises."""


@pytest.fixture(scope="module")
def base_fast(tmp_path_factory: pytest.TempPathFactory) -> FasterWhisperEngine:
    data = tmp_path_factory.mktemp("base-fast")
    return load_engine(make_settings(data, whisper={"model": "base", "fast_mode": True}))


@pytest.fixture(scope="module")
def tiny_two_parts(tmp_path_factory: pytest.TempPathFactory) -> FasterWhisperEngine:
    data = tmp_path_factory.mktemp("tiny-fast")
    return load_engine(make_settings(data, whisper={"fast_mode": True, "workers": 2, "cpu_threads": 1}))


async def test_fast_mode_keeps_two_languages_apart(make_client: MakeClient, base_fast: FasterWhisperEngine) -> None:
    """English then German in one 30 s window: the window is detected unsure and decoded again."""
    client = await make_client(base_fast)
    job = await submit(client, CLIPS / "mixed.ogg")
    status = await wait_status(client, job["job_id"], timeout=180)
    assert status["status"] == "completed", status
    result = await (await client.get(f"/jobs/{job['job_id']}/transcript.json")).json()
    assert_english_then_german(status, result)


async def test_fast_mode_detects_russian_from_the_decoding_pass(
    make_client: MakeClient, base_fast: FasterWhisperEngine
) -> None:
    client = await make_client(base_fast)
    job = await submit(client, CLIPS / "russian.ogg")
    status = await wait_status(client, job["job_id"], timeout=180)
    assert status["status"] == "completed", status
    assert status["language"] == "ru" and status["languages"] == ["ru"], status
    assert word_error_rate(TEXTS["russian.ogg"], status["text"]) <= 0.25, status["text"]


def test_two_parts_keep_every_passage_in_order(tmp_path: Path, tiny_two_parts: FasterWhisperEngine) -> None:
    path = speech_wav(tmp_path / "long.wav", PASSAGES, gap=1.0)
    samples = np.concatenate(list(audio.decode(path)))
    duration = len(samples) / audio.SAMPLE_RATE
    assert len(parts.split(samples, 2)) == 2  # long enough to be cut in two
    seen: list[Segment] = []
    transcript = tiny_two_parts.transcribe(path, duration, JobOptions(), lambda seg, _: seen.append(seg))
    reference = " ".join(TEXTS[name] for name in PASSAGES)
    assert word_error_rate(reference, transcript.text) < 0.15, transcript.text
    assert list(transcript.segments) == seen  # reported as decoded, in order
    starts = [s.start for s in transcript.segments]
    assert starts == sorted(starts)
    assert transcript.segments[-1].end > duration - 20


def test_a_cancelled_job_leaves_no_part_running(tmp_path: Path, tiny_two_parts: FasterWhisperEngine) -> None:
    path = speech_wav(tmp_path / "long.wav", PASSAGES, gap=1.0)
    duration = audio.probe(path, 3600).duration

    def cancel(_seg: Segment, _lang: str | None) -> None:
        raise Stop

    with pytest.raises(Stop):
        tiny_two_parts.transcribe(path, duration, JobOptions(), cancel)
    assert not [t for t in threading.enumerate() if t.name.startswith("part")]


def test_split_cuts_at_the_quietest_moment_near_the_middle() -> None:
    rate = audio.SAMPLE_RATE
    noise = np.random.default_rng(1).uniform(-0.5, 0.5, 150 * rate).astype(np.float32)
    noise[73 * rate : int(73.3 * rate)] = 0.0  # a pause 2 s before the middle
    (first, second) = parts.split(noise, 2)
    assert first[0] == 0 and second[1] == len(noise) and first[1] == second[0]
    assert 73 * rate <= first[1] <= int(73.3 * rate)
    assert parts.split(noise[: 90 * rate], 2) == [(0, 90 * rate)]  # under a minute per part: not cut
    assert len(parts.split(noise, 8)) == 2


def _slow_then_fast(index: int, stop: threading.Event) -> Iterator[tuple[int, int]]:
    for item in range(3):
        time.sleep(0.05 if index == 0 else 0.0)
        yield index, item


def test_in_order_yields_part_by_part_while_all_run() -> None:
    assert list(parts.in_order(2, _slow_then_fast)) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]


def test_in_order_raises_a_part_failure_in_the_consumer() -> None:
    def work(index: int, stop: threading.Event) -> Iterator[int]:
        yield index
        if index == 1:
            raise ValueError("part 1 broke")

    seen: list[Any] = []
    with pytest.raises(ValueError, match="part 1 broke"):
        seen.extend(parts.in_order(2, work))
    assert not [t for t in threading.enumerate() if t.name.startswith("part")]


def test_closing_early_stops_every_part() -> None:
    produced: list[int] = []

    def work(index: int, stop: threading.Event) -> Iterator[int]:
        for item in range(1000):
            produced.append(item)
            yield item
            time.sleep(0.001)

    stream = parts.in_order(2, work)
    assert next(stream) == 0
    stream.close()
    count = len(produced)
    time.sleep(0.05)
    assert len(produced) == count < 2000  # nothing runs after close
    assert not [t for t in threading.enumerate() if t.name.startswith("part")]
