"""Checks that the committed speech clips are present, decodable and about as long as intended."""

from __future__ import annotations

import json
from pathlib import Path

import av
import pytest

CLIPS = Path(__file__).parent / "clips"

# Seconds, with room for codec padding and a regenerated clip speaking a little faster.
EXPECTED_SECONDS = {
    "hello.wav": (2.0, 4.5),
    "speech.ogg": (12.0, 20.0),
    "speech.mp3": (9.0, 20.0),
    "numbers.flac": (4.0, 8.0),
    "russian.ogg": (5.0, 12.0),
    "clip.mp4": (2.0, 4.5),
    "mixed.ogg": (13.0, 21.0),
    "pauses.ogg": (27.0, 34.0),
    "stereo.ogg": (12.0, 19.0),
}


def _texts() -> dict[str, str]:
    texts: dict[str, str] = json.loads((CLIPS / "texts.json").read_text(encoding="utf-8"))
    return texts


def _decoded_seconds(path: Path) -> float:
    # Decoding every frame proves the audio is readable, not just that the header parses.
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return float(samples / stream.codec_context.sample_rate)


def test_every_expected_clip_has_a_text() -> None:
    texts = _texts()
    assert set(texts) == set(EXPECTED_SECONDS)
    assert all(text.strip() for text in texts.values())


@pytest.mark.parametrize("name", sorted(EXPECTED_SECONDS))
def test_clip_decodes_with_expected_duration(name: str) -> None:
    path = CLIPS / name
    assert path.is_file()
    assert path.stat().st_size < 300_000
    low, high = EXPECTED_SECONDS[name]
    assert low <= _decoded_seconds(path) <= high


def test_hello_is_16k_mono_pcm() -> None:
    with av.open(str(CLIPS / "hello.wav")) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name == "pcm_s16le"
        assert stream.codec_context.sample_rate == 16000
        assert stream.codec_context.channels == 1


def test_video_clip_has_picture_and_sound() -> None:
    with av.open(str(CLIPS / "clip.mp4")) as container:
        assert len(container.streams.video) == 1
        assert len(container.streams.audio) == 1


def test_russian_text_is_cyrillic() -> None:
    assert "погода" in _texts()["russian.ogg"]


def test_clips_folder_stays_small() -> None:
    assert sum(p.stat().st_size for p in CLIPS.iterdir()) < 1_000_000


def test_stereo_call_has_one_speaker_per_channel() -> None:
    with av.open(str(CLIPS / "stereo.ogg")) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.channels == 2
        planes = [frame.to_ndarray() for frame in container.decode(stream)]
    import numpy as np

    audio = np.concatenate([p.reshape(-1, 2).T if p.shape[0] == 1 else p for p in planes], axis=1)
    # The parties take turns: at most moments one channel is loud and the other near silent.
    frames = audio[:, : audio.shape[1] // 4800 * 4800].reshape(2, -1, 4800)
    loud = np.sqrt((frames**2).mean(axis=2)) > 0.01
    assert loud[0].any() and loud[1].any() and (loud[0] & loud[1]).mean() < 0.1
