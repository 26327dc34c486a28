"""Turn detection on a live stream: Silero VAD (the model faster-whisper ships) frame by frame."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from faster_whisper.vad import get_vad_model

from transcriber.speech.audio import SAMPLE_RATE, Samples

FRAME = 512  # Silero's window at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous frame each window sees
# Below threshold minus this a frame counts as silence (Silero's own hysteresis).
NEG_MARGIN = 0.15


@dataclass(frozen=True)
class TurnDetection:
    """The session's server_vad settings, as OpenAI names them."""

    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500


@dataclass(frozen=True)
class VadEvent:
    kind: str  # "start" or "stop"
    sample: int  # 16 kHz sample index in the stream: where speech began (with padding) or ended


class StreamVad:
    """Feeds 16 kHz samples in any chunk size; reports speech starts and stops as they are decided."""

    def __init__(self, detection: TurnDetection):
        self._detection = detection
        self._model = get_vad_model()
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(CONTEXT, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)
        self._done = 0  # samples already scored
        self._speaking = False
        self._last_voice = 0  # end of the last frame above threshold

    @property
    def speaking(self) -> bool:
        return self._speaking

    def feed(self, samples: Samples) -> list[VadEvent]:
        self._pending = np.concatenate([self._pending, samples])
        count = len(self._pending) // FRAME
        if count == 0:
            return []
        frames = self._pending[: count * FRAME].reshape(count, FRAME)
        self._pending = self._pending[count * FRAME :]
        events = []
        for probability in self._score(frames):
            self._done += FRAME
            if (event := self._step(probability, self._done)) is not None:
                events.append(event)
        return events

    def _score(self, frames: np.ndarray) -> list[float]:
        contexts = np.concatenate([self._context[None, :], frames[:-1, -CONTEXT:]])
        self._context = frames[-1, -CONTEXT:].copy()
        batch = np.concatenate([contexts, frames], axis=1).astype(np.float32)
        out, self._h, self._c = self._model.session.run(None, {"input": batch, "h": self._h, "c": self._c})
        return [float(v) for v in np.asarray(out).reshape(-1)]

    def _step(self, probability: float, end: int) -> VadEvent | None:
        d = self._detection
        if probability >= d.threshold:
            self._last_voice = end
            if not self._speaking:
                self._speaking = True
                padding = int(d.prefix_padding_ms * SAMPLE_RATE / 1000)
                return VadEvent("start", max(0, end - FRAME - padding))
            return None
        quiet = probability < max(0.01, d.threshold - NEG_MARGIN)
        silence = int(d.silence_duration_ms * SAMPLE_RATE / 1000)
        if self._speaking and quiet and end - self._last_voice >= silence:
            self._speaking = False
            return VadEvent("stop", self._last_voice)
        return None
