"""Transcription runs below the event loop's CPU priority, so requests are served while jobs run.

On Linux, nice is per thread and a thread inherits it from the thread that starts it: the model is
loaded in a lowered thread, so CTranslate2's replica and OpenMP threads start lowered too, and the
job threads lower themselves. Measured (bench uploads case, 2 cores, both workers transcribing):
100 kB uploads were accepted at 78/s at equal priority; the event loop lost the cores to the
model's threads. Only CPU contention changes: on an idle core a niced thread runs at full speed.
"""

from __future__ import annotations

import contextlib
import os
import threading

# CFS weights: nice 0 = 1024, nice 10 = 110: a request thread wins a contended core about 9 to 1.
TRANSCRIPTION_NICE = 10


def lower_this_thread(nice: int = TRANSCRIPTION_NICE) -> None:
    """Lower the calling thread (and the threads it starts) to `nice`; a no-op where unsupported."""
    setpriority = getattr(os, "setpriority", None)
    if setpriority is None or nice <= 0:
        return
    with contextlib.suppress(OSError):  # a container may forbid it: then everything runs at one priority
        setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
