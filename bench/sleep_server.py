"""`python -m bench.sleep_server`: a real transcriber server whose engine only sleeps.

A STAND-IN FOR A GPU NODE, for the scaling benchmark only: each job takes its audio length divided
by BENCH_SLEEP_SPEED seconds (default 20, a modest GPU), in one-second-of-audio segments so that
progress and cancels behave as with the model. Everything else (HTTP, uploads, the store, claims,
leases, results on disk) is the real server, configured by the usual settings and environment.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from transcriber.domain.options import JobOptions
from transcriber.logs import configure_logging
from transcriber.outputs.transcript import Segment, Transcript
from transcriber.settings import load_settings
from transcriber.speech.engine import EngineInfo, SegmentCallback
from transcriber.speech.loader import EngineLoader
from transcriber.web.server import serve


class SleepEngine:
    """Sleeps duration / speed per job; labelled so in /health (name 'sleep-stand-in')."""

    def __init__(self, speed: float, workers: int):
        self._speed = speed
        self._info = EngineInfo(
            "sleep-stand-in", "-", "bench", "cpu", "none", workers, 1, False, False, 0.0, {"sleep": str(speed)}, ("en",)
        )

    @property
    def info(self) -> EngineInfo:
        return self._info

    def transcribe(
        self, path: Path, duration: float, options: JobOptions, on_segment: SegmentCallback, *, wide: bool = False
    ) -> Transcript:
        segments = []
        for second in range(max(1, round(duration))):
            time.sleep(1.0 / self._speed)
            segment = Segment(float(second), float(second + 1), f" second {second}")
            on_segment(segment, "en")
            segments.append(segment)
        return Transcript("en", 1.0, duration, tuple(segments))


def main() -> int:
    settings = load_settings(None)
    configure_logging(settings.logging.level, settings.logging.format)
    engine = SleepEngine(float(os.environ.get("BENCH_SLEEP_SPEED", "20")), settings.whisper.workers or 2)
    return asyncio.run(serve(settings, EngineLoader.loaded(engine, settings), host=None, port=None))


if __name__ == "__main__":
    raise SystemExit(main())
