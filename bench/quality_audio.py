"""The recordings bench/quality.py scores: shared speech, the committed clips, long gaps of silence and noise."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.fixtures import JFK_TEXT, MIT_TEXT, SAMPLE_RATE, Fixtures, Samples, decode, write_wav

CLIPS = Path(__file__).resolve().parent.parent / "tests" / "clips"
ENGLISH_PART_END = 30.5  # multilingual.mp3: English before, German after


@dataclass(frozen=True)
class Recording:
    """A file to transcribe, what was said, and the language spoken at each moment."""

    name: str
    path: Path
    reference: str
    languages: tuple[tuple[float, str], ...] = ((0.0, "en"),)  # (from second, language)
    multilingual_only: bool = False
    split: bool = False
    on_request: bool = False  # long: only when --recordings names it

    def language_at(self, seconds: float) -> str:
        return [lang for start, lang in self.languages if start <= seconds][-1]


def _gap(kind: str, seconds: float, rng: np.random.Generator) -> Samples:
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    if kind == "noise":
        return rng.normal(0, 0.03, n).astype(np.float32)
    if kind == "hum":
        return (0.05 * np.sin(2 * np.pi * 100 * t) + 0.03 * np.sin(2 * np.pi * 150 * t)).astype(np.float32)
    if kind == "music":  # a slow arpeggio: Whisper likes to caption music with invented text
        notes = 220 * 2 ** (np.array([0, 4, 7, 12]) / 12)
        pitch = notes[(t * 2).astype(int) % 4]
        music: Samples = (0.08 * np.sin(2 * np.pi * pitch * t)).astype(np.float32)
        return music
    return np.zeros(n, dtype=np.float32)


def long_gaps(fixtures: Fixtures, texts: dict[str, str]) -> Recording:
    """English utterances with 6-10 s of silence, hiss, hum and music between them (about 90 s)."""
    rng = np.random.default_rng(13)
    jfk = decode(fixtures.audio_dir / "jfk.flac")
    plan: list[tuple[Samples, str]] = [
        (jfk, JFK_TEXT),
        (_gap("silence", 10, rng), ""),
        (decode(CLIPS / "speech.ogg"), texts["speech.ogg"]),
        (_gap("noise", 8, rng), ""),
        (_gap("hum", 6, rng), ""),
        (decode(CLIPS / "speech.mp3"), texts["speech.mp3"]),
        (_gap("music", 8, rng), ""),
        (_gap("silence", 6, rng), ""),
        (jfk, JFK_TEXT),
    ]
    path = fixtures.work_dir / "long-gaps.wav"
    write_wav(path, np.concatenate([samples for samples, _ in plan]))
    return Recording("long-gaps", path, " ".join(text for _, text in plan if text))


def recordings(fixtures: Fixtures) -> list[Recording]:
    texts: dict[str, str] = json.loads((CLIPS / "texts.json").read_text(encoding="utf-8"))
    shared = fixtures.audio_dir
    clip = [
        Recording(name, CLIPS / name, texts[name]) for name in ("hello.wav", "speech.ogg", "speech.mp3", "numbers.flac")
    ]
    return [
        Recording("jfk", shared / "jfk.flac", JFK_TEXT),
        Recording("mit-english", fixtures.english().path, MIT_TEXT),
        *clip,
        Recording("pauses.ogg", CLIPS / "pauses.ogg", texts["pauses.ogg"]),
        Recording("stereo.ogg", CLIPS / "stereo.ogg", texts["stereo.ogg"], split=True),
        long_gaps(fixtures, texts),
        Recording("russian.ogg", CLIPS / "russian.ogg", texts["russian.ogg"], ((0.0, "ru"),), True),
        Recording("mixed.ogg", CLIPS / "mixed.ogg", texts["mixed.ogg"], ((0.0, "en"), (8.0, "de")), True),
        # German half has no reference text: scored on the English half and on the language of each part.
        Recording("multilingual", shared / "multilingual.mp3", MIT_TEXT, ((0.0, "en"), (ENGLISH_PART_END, "de")), True),
        _english_5min(fixtures),
    ]


def _english_5min(fixtures: Fixtures) -> Recording:
    """The 5-minute English file bench/RESULTS.md measured fast mode on (856 reference words)."""
    clip = fixtures.english_long(300)
    assert clip.reference is not None
    return Recording("english-5min", clip.path, clip.reference, on_request=True)
