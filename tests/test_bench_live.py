"""The live bench's reference times: where the voice in its clip starts and stops.

Latency is counted from these, so they must be the speech itself, not a span padded for decoding
(faster-whisper's default 400 ms padding put "speech start" before anyone spoke). The check is
independent of the VAD: the clip's turns are separated by digital silence, so the first and last
10 ms frame louder than -40 dBFS mark each turn.
"""

from __future__ import annotations

import numpy as np

from bench.live import RATE, TURNS, clip

FRAME = RATE // 100


def loud_stretches(data: bytes) -> list[tuple[float, float]]:
    x = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768
    count = len(x) // FRAME
    rms = np.sqrt((x[: count * FRAME].reshape(count, FRAME) ** 2).mean(axis=1))
    loud = np.flatnonzero(20 * np.log10(rms + 1e-9) > -40)
    gaps = np.flatnonzero(np.diff(loud) > 50)  # over 0.5 s of quiet between two turns
    starts, ends = [loud[0], *loud[gaps + 1]], [*loud[gaps], loud[-1]]
    return [(a / 100, (b + 1) / 100) for a, b in zip(starts, ends, strict=True)]


def test_the_bench_times_turns_from_where_the_voice_starts_and_stops() -> None:
    data, spans = clip()
    loud = loud_stretches(data)
    assert len(spans) == len(loud) == len(TURNS), (spans, loud)
    for (start, end), (onset, offset) in zip(spans, loud, strict=True):
        assert abs(start - onset) <= 0.1 and abs(end - offset) <= 0.1, (spans, loud)
