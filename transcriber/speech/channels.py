"""Stereo calls: decode each channel on its own, and merge the channels' segments by time."""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import av
import numpy as np

from transcriber.outputs.transcript import Segment
from transcriber.speech.audio import SAMPLE_RATE, AudioTooLong, Samples


def decode_channel(path: Path, index: int, max_seconds: float) -> Iterator[Samples]:
    """One channel of a stereo file as float32 blocks at 16 kHz (the file is read once per channel).

    Reading the file again for the second channel keeps memory bounded by a block, as
    audio.decode does for the downmix, instead of holding both channels of a long call.
    Past max_seconds it raises AudioTooLong, as audio.decode does.
    """
    total, limit = 0, int(max_seconds * SAMPLE_RATE)
    for block in _channel_blocks(path, index):
        total += len(block)
        if total > limit:
            raise AudioTooLong(f"the audio decodes to more than {max_seconds:.0f} s")
        yield block


def _channel_blocks(path: Path, index: int) -> Iterator[Samples]:
    resampler = av.AudioResampler(format="s16p", layout="stereo", rate=SAMPLE_RATE)
    with av.open(str(path), metadata_errors="ignore") as container:
        stream = container.streams.audio[0]
        try:
            for frame in container.decode(stream):
                frame.pts = None  # the resampler must not choke on odd timestamps
                yield from (_plane(f, index) for f in resampler.resample(frame))
        except av.error.InvalidDataError:
            pass  # a truncated tail: keep what decoded, as audio.decode does
        yield from (_plane(f, index) for f in resampler.resample(None))


def _plane(frame: av.AudioFrame, index: int) -> Samples:
    planes = frame.to_ndarray()  # planar s16: one row per channel
    plane: Samples = (planes[index].astype(np.float32) / 32768.0).astype(np.float32)
    return plane


def merge(channels: Sequence[Sequence[Segment]], labels: Sequence[str]) -> list[Segment]:
    """All channels' segments in order of start time, each labelled with its channel's speaker.

    Segments starting together keep channel order, so the result never depends on timing noise.
    """
    labelled = [[replace(s, speaker=label) for s in segments] for segments, label in zip(channels, labels, strict=True)]
    return list(heapq.merge(*labelled, key=lambda s: s.start))
