"""Transcription threads run niced, so the event loop keeps a contended core (priority.py)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from tests.support import FakeEngine, make_settings
from transcriber.jobs.watchdog import ThreadSlots
from transcriber.settings import Settings
from transcriber.speech.engine import Engine
from transcriber.speech.loader import EngineLoader
from transcriber.speech.priority import TRANSCRIPTION_NICE, lower_this_thread

pytestmark = pytest.mark.skipif(not hasattr(os, "setpriority"), reason="per-thread nice is a POSIX feature")


def _nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_a_lowered_thread_and_the_threads_it_starts_run_niced() -> None:
    seen: list[int] = []

    def lowered() -> None:
        lower_this_thread()
        child = threading.Thread(target=lambda: seen.append(_nice()))  # as CTranslate2 starts its own
        child.start()
        child.join()
        seen.append(_nice())

    before = _nice()
    worker = threading.Thread(target=lowered)
    worker.start()
    worker.join()
    assert seen == [TRANSCRIPTION_NICE, TRANSCRIPTION_NICE]
    assert _nice() == before  # the calling (event loop) thread is untouched


def test_job_threads_run_niced() -> None:
    slots = ThreadSlots(2)
    try:
        assert [slots[i].submit(_nice).result() for i in range(2)] == [TRANSCRIPTION_NICE] * 2
    finally:
        slots.shutdown()


async def test_the_model_loads_in_a_niced_thread(tmp_path: Path) -> None:
    seen: list[int] = []

    def load(_settings: Settings) -> Engine:
        seen.append(_nice())  # CTranslate2's replica and OpenMP threads inherit this
        return FakeEngine()

    loader = EngineLoader(make_settings(tmp_path), load)
    assert await loader.wait() is not None
    assert seen == [TRANSCRIPTION_NICE]
