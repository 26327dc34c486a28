"""Benchmark audio: the shared real recordings, decoded, cut and concatenated into WAV files."""

from __future__ import annotations

import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from transcriber.speech import audio

SAMPLE_RATE = audio.SAMPLE_RATE
DEFAULT_AUDIO_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "bench-audio"
JFK_TEXT = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
MIT_TEXT = (
    "Permission is hereby granted, free of charge, to any person obtaining a copy of this software and "
    "associated documentation files, to deal in the software without restriction, including without "
    "limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies "
    "of the software, and to permit persons to whom the software is furnished to do so, subject to the "
    "following conditions. The above copyright notice and this permission notice shall be included in all "
    "copies or substantial portions of the software."
)
# The English reading in multilingual.mp3 ends near 29 s; cut at the quietest moment before 31 s.
ENGLISH_END_SECONDS = 31.0
CUT_SEARCH_SECONDS = 3.0
Samples = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Clip:
    """A file to send: its path, audio length and, for English speech, the reference text."""

    name: str
    path: Path
    seconds: float
    reference: str | None = None


class Fixtures:
    """Builds clips on demand into work_dir from the two shared recordings; each one once."""

    def __init__(self, audio_dir: Path, work_dir: Path):
        self.audio_dir = audio_dir
        self.work_dir = work_dir
        self._clips: dict[str, Clip] = {}
        self._jfk: Samples | None = None
        self._multi: Samples | None = None
        work_dir.mkdir(parents=True, exist_ok=True)

    def check(self) -> None:
        """Fail early, with the folder's name, if the recordings are missing."""
        for name in ("jfk.flac", "multilingual.mp3"):
            if not (self.audio_dir / name).is_file():
                raise FileNotFoundError(f"{self.audio_dir / name} is missing; pass --audio-dir")

    @property
    def jfk(self) -> Clip:
        """jfk.flac as shipped (11 s, English)."""
        return Clip("jfk", self.audio_dir / "jfk.flac", _seconds(self._jfk_samples()), JFK_TEXT)

    @property
    def multilingual(self) -> Clip:
        """multilingual.mp3 as shipped (60 s, English then German)."""
        return Clip("multilingual", self.audio_dir / "multilingual.mp3", _seconds(self._multi_samples()))

    def english(self) -> Clip:
        """The English first half of multilingual.mp3 (about 29 s)."""
        return self._build("english", lambda: [self._english()], MIT_TEXT)

    def english_minute(self) -> Clip:
        """The English reading twice (about 58 s): a one-minute clip an English-only model handles."""
        return self._build("english-x2", lambda: [self._english(), self._english()], f"{MIT_TEXT} {MIT_TEXT}")

    def english_long(self, seconds: float) -> Clip:
        """Alternating JFK and the English licence reading until about `seconds` of speech."""
        pieces, texts = self._english_pieces(seconds)
        return self._build(f"english-{seconds:.0f}s", lambda: pieces, " ".join(texts))

    def slice(self, name: str, seconds: float) -> Clip:
        """The first `seconds` of JFK (for many small uploads)."""
        return self._build(name, lambda: [self._jfk_samples()[: int(seconds * SAMPLE_RATE)]], None)

    def _english_pieces(self, seconds: float) -> tuple[list[Samples], list[str]]:
        pieces: list[Samples] = []
        texts: list[str] = []
        total = 0.0
        sources = [(self._jfk_samples(), JFK_TEXT), (self._english(), MIT_TEXT)]
        while total < seconds - 5.0:
            samples, text = sources[len(pieces) % 2]
            pieces.append(samples)
            texts.append(text)
            total += len(samples) / SAMPLE_RATE
        return pieces, texts

    def _build(self, name: str, make: Callable[[], list[Samples]], reference: str | None) -> Clip:
        if name not in self._clips:
            samples = np.concatenate(make())
            path = self.work_dir / f"{name}.wav"
            write_wav(path, samples)
            self._clips[name] = Clip(name, path, _seconds(samples), reference)
        return self._clips[name]

    def _jfk_samples(self) -> Samples:
        if self._jfk is None:
            self._jfk = decode(self.audio_dir / "jfk.flac")
        return self._jfk

    def _multi_samples(self) -> Samples:
        if self._multi is None:
            self._multi = decode(self.audio_dir / "multilingual.mp3")
        return self._multi

    def _english(self) -> Samples:
        multi = self._multi_samples()
        target, search = int(ENGLISH_END_SECONDS * SAMPLE_RATE), int(CUT_SEARCH_SECONDS * SAMPLE_RATE)
        return multi[: audio.quiet_cut(multi, target, search)]


def _seconds(samples: Samples) -> float:
    return round(len(samples) / SAMPLE_RATE, 3)


def decode(path: Path) -> Samples:
    """Mono float32 at 16 kHz, decoded with PyAV the way the server decodes uploads."""
    return np.concatenate(list(audio.decode(path)))


def write_wav(path: Path, samples: Samples) -> None:
    """16-bit mono PCM WAV at 16 kHz."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm.tobytes())
