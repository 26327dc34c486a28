"""Live audio in: PCM16 bytes at the session's rate to 16 kHz float samples, and back to a WAV."""

from __future__ import annotations

import wave
from pathlib import Path

import av
import numpy as np

from transcriber.speech.audio import SAMPLE_RATE, Samples

RATES = (16000, 24000)  # what a session may declare; 24 kHz is the protocol's default
PCM_SCALE = 32768.0


class PcmResampler:
    """Stateful PCM16 mono -> 16 kHz float32, chunk by chunk (FFmpeg's resampler, through PyAV).

    An odd byte at the end of a chunk is kept for the next one, so any split of the stream decodes
    the same samples.
    """

    def __init__(self, rate: int):
        self.rate = rate
        self._carry = b""
        same = rate == SAMPLE_RATE
        self._resampler = None if same else av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)

    def feed(self, data: bytes) -> Samples:
        data = self._carry + data
        whole = len(data) - len(data) % 2
        self._carry = data[whole:]
        pcm = np.frombuffer(data[:whole], dtype="<i2")
        if pcm.size == 0:
            return np.zeros(0, dtype=np.float32)
        if self._resampler is None:
            return (pcm.astype(np.float32) / PCM_SCALE).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1).astype(np.int16), format="s16", layout="mono")
        frame.sample_rate = self.rate
        return _joined(self._resampler.resample(frame))

    def flush(self) -> Samples:
        if self._resampler is None:
            return np.zeros(0, dtype=np.float32)
        return _joined(self._resampler.resample(None))


def _joined(frames: list[av.AudioFrame]) -> Samples:
    if not frames:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(np.float32)


def to_pcm16(samples: Samples) -> bytes:
    return (np.clip(samples, -1.0, 1.0) * (PCM_SCALE - 1)).astype("<i2").tobytes()


def write_wav(path: Path, pcm16: bytes, rate: int = SAMPLE_RATE) -> None:
    """A mono PCM16 WAV file (the saved audio of a live session)."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm16)
