"""Where the speech is (VAD windows of at most 30 s) and which language each stretch of it is in."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from faster_whisper.vad import VadOptions, get_speech_timestamps

from transcriber.speech.audio import SAMPLE_RATE, Samples

# A window this short, or detected this unsurely, says little about its language: it takes
# the language of the stretch around it instead of starting a new one.
MIN_DETECT_SECONDS = 2.0
MIN_DETECT_PROBABILITY = 0.5
# Fast mode detects the language of each packed 30 s window; one detected less surely than this may
# hold two languages (English then German: 0.59; one language: 0.82-0.88 on synthetic speech and
# 0.98-0.99 on real speech), so it is decoded again, split at pauses and detected piece by piece.
MIXED_BELOW = 0.75

# Given a window's samples: (language, probability).
Detector = Callable[[Samples], tuple[str, float]]


@dataclass(frozen=True)
class Window:
    """Speech from start to end (seconds within the chunk), decoded as one Whisper window."""

    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Run:
    """Consecutive windows in one language."""

    language: str | None
    probability: float | None
    windows: tuple[Window, ...]

    @property
    def start(self) -> float:
        return self.windows[0].start

    @property
    def end(self) -> float:
        return self.windows[-1].end


def speech_windows(samples: Samples, vad: VadOptions, max_seconds: float, max_gap: float) -> list[Window]:
    """VAD speech regions, merged while a window stays within max_seconds and the pause within max_gap."""
    regions = get_speech_timestamps(samples, vad, sampling_rate=SAMPLE_RATE)
    windows: list[Window] = []
    for region in regions:
        start, end = region["start"] / SAMPLE_RATE, region["end"] / SAMPLE_RATE
        last = windows[-1] if windows else None
        if last is not None and end - last.start <= max_seconds and start - last.end <= max_gap:
            windows[-1] = Window(last.start, end)
        else:
            windows.append(Window(start, end))
    return windows


def language_runs(samples: Samples, windows: Sequence[Window], detect: Detector) -> list[Run]:
    """Detect each window's language and group neighbours that share one."""
    found = [detect(_cut(samples, w)) for w in windows]
    sure = [
        (lang, prob) if prob >= MIN_DETECT_PROBABILITY and w.seconds >= MIN_DETECT_SECONDS else None
        for w, (lang, prob) in zip(windows, found, strict=True)
    ]
    labels = _fill(sure) if any(sure) else [max(found, key=lambda f: f[1])] * len(found)
    runs: list[Run] = []
    for window, (lang, prob) in zip(windows, labels, strict=True):
        if runs and runs[-1].language == lang:
            last = runs[-1]
            runs[-1] = Run(lang, max(prob, last.probability or 0.0), (*last.windows, window))
        else:
            runs.append(Run(lang, prob, (window,)))
    return runs


def _fill(sure: list[tuple[str, float] | None]) -> list[tuple[str, float]]:
    """Unsure windows take the language of the nearest sure window before them (after, at the start)."""
    first = next(s for s in sure if s is not None)
    out: list[tuple[str, float]] = []
    for item in sure:
        out.append(item if item is not None else (out[-1] if out else first))
    return out


def _cut(samples: Samples, window: Window) -> Samples:
    return samples[int(window.start * SAMPLE_RATE) : int(window.end * SAMPLE_RATE)]


def single_run(language: str | None, probability: float | None, windows: Sequence[Window]) -> list[Run]:
    return [Run(language, probability, tuple(windows))] if windows else []
