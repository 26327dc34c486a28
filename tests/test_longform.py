"""Long audio in both decoding modes with the real model: chunk boundaries drop nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.wer import word_error_rate
from tests.support import TEXTS, make_settings, speech_wav
from transcriber.domain.options import JobOptions
from transcriber.outputs.transcript import Segment
from transcriber.speech.loader import load_engine

CLIPS_IN_ORDER = ["speech.ogg", "speech.mp3", "hello.wav", "speech.ogg", "speech.mp3"]


@pytest.mark.parametrize("fast_mode", [False, True], ids=["sequential", "batched"])
def test_chunked_long_audio_keeps_every_passage(tmp_path: Path, fast_mode: bool) -> None:
    audio = speech_wav(tmp_path / "long.wav", CLIPS_IN_ORDER, gap=1.0)
    settings = make_settings(tmp_path / "data", whisper={"fast_mode": fast_mode, "chunk_seconds": 15})
    engine = load_engine(settings)
    seen: list[Segment] = []
    duration = 60.0
    transcript = engine.transcribe(audio, duration, JobOptions(), lambda seg, _lang: seen.append(seg))
    reference = " ".join(TEXTS[name] for name in CLIPS_IN_ORDER)
    # 15 s chunks force several cuts through this ~55 s file; each passage must survive them.
    assert word_error_rate(reference, transcript.text) < 0.15, transcript.text
    assert list(transcript.segments) == seen
    starts = [s.start for s in transcript.segments]
    assert starts == sorted(starts) and transcript.segments[-1].end > 45
    assert transcript.settings["mode"] == ("batched" if fast_mode else "sequential")
