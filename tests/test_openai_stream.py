"""stream=true on /v1/audio/transcriptions, read by the official openai SDK as it parses the events."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from openai import OpenAI

from tests.conftest import API_KEY
from tests.server_process import ServerProcess
from tests.support import TEXTS, speech_wav

pytestmark = pytest.mark.slow


def test_stream_true_sends_text_deltas_then_done(tiny_server: ServerProcess, tmp_path: Path) -> None:
    names = ["speech.ogg", "speech.mp3", "numbers.flac"]
    clip = speech_wav(tmp_path / "long.wav", names, gap=1.0)
    sdk = OpenAI(base_url=f"{tiny_server.url}/v1", api_key=API_KEY, max_retries=0, timeout=120)
    with sdk as client, clip.open("rb") as fh:
        events = list(client.audio.transcriptions.create(model="whisper-1", file=fh, stream=True, language="en"))
    kinds = [e.type for e in events]
    assert kinds[-1] == "transcript.text.done" and set(kinds[:-1]) == {"transcript.text.delta"}, kinds
    assert len(kinds) >= 3, kinds  # text came while the job ran, not only at its end
    done = events[-1].text  # type: ignore[union-attr]
    assert "".join(e.delta for e in events[:-1]) == done  # type: ignore[union-attr]
    expected = set(re.findall(r"[a-z]+", " ".join(TEXTS[n] for n in names).lower()))
    assert len(expected & set(re.findall(r"[a-z]+", done.lower()))) >= len(expected) * 0.8, done
