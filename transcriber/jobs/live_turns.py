"""A live session's audio so far and its turns: where speech starts and stops, and each turn's samples."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from transcriber.speech.audio import SAMPLE_RATE, Samples
from transcriber.speech.live import Agreement
from transcriber.speech.live_vad import StreamVad, TurnDetection

KEEP_BEFORE_SPEECH = 2.0  # seconds kept while nobody speaks: the VAD's padding reaches back into them
MIN_COMMIT_SECONDS = 0.1  # OpenAI refuses a commit of less than 100 ms of audio too
TAIL_SECONDS = 0.2  # decoded past the last voiced frame, so the last word is heard whole
HEARD_AFTER = 0.1  # a partial that heard this far past the last voiced frame heard the last word too


def new_item_id() -> str:
    return "item_" + uuid.uuid4().hex[:24]


@dataclass
class Turn:
    """One item: its audio (growing while open), what was sent of its text, and where it lies in the stream."""

    item_id: str
    start: int  # 16 kHz sample index in the session's stream
    samples: Samples = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    end: int = 0
    closed: bool = False
    agreement: Agreement = field(default_factory=Agreement)
    decoded_length: int = 0  # samples the last partial decode heard
    previous_item_id: str | None = None
    voiced: int = 0  # samples up to the last voiced frame, when the VAD ended the turn (else 0)

    @property
    def seconds(self) -> float:
        return len(self.samples) / SAMPLE_RATE

    @property
    def heard_all(self) -> bool:
        """The VAD ended the turn and the last partial decode heard all of its speech."""
        return self.voiced > 0 and self.decoded_length >= self.voiced + int(HEARD_AFTER * SAMPLE_RATE)


# Called with (what happened, turn): "started", "stopped", "committed".
TurnEvent = Callable[[str, Turn], None]


class TurnTracker:
    """Cuts the stream into turns: by VAD (server_vad), or at the client's commits (detection None)."""

    def __init__(self, detection: TurnDetection | None, max_turn_seconds: float, on_event: TurnEvent):
        self._vad = StreamVad(detection) if detection is not None else None
        self._max_turn = int(max_turn_seconds * SAMPLE_RATE)
        self._on_event = on_event
        self._chunks: list[Samples] = []
        self._base = 0  # stream index of the first sample held
        self._held = 0
        self.total = 0  # samples received in the session
        self.open: Turn | None = None
        self._last_item: str | None = None

    def feed(self, samples: Samples) -> None:
        self._chunks.append(samples)
        self._held += len(samples)
        self.total += len(samples)
        if self._vad is None:
            if self.open is None and len(samples):
                self._begin(self.total - len(samples))
        else:
            for event in self._vad.feed(samples):
                if event.kind == "start" and self.open is None:
                    self._begin(max(event.sample, self._base))
                    self._on_event("started", self._grown())
                elif event.kind == "stop" and self.open is not None:
                    self.open.voiced = max(1, event.sample - self.open.start)
                    self._close(min(self.total, event.sample + int(TAIL_SECONDS * SAMPLE_RATE)), "stopped")
        if self.open is not None:
            self._grown()
            if self.total - self.open.start >= self._max_turn:
                self._close(self.total, "stopped" if self._vad is not None else "")
                if self._vad is not None and self._vad.speaking:  # the speaker goes on: so does a new turn
                    self._begin(self.total)
                    self._on_event("started", self._grown())
        else:
            self._trim(self.total - int(KEEP_BEFORE_SPEECH * SAMPLE_RATE))

    def commit(self) -> Turn | None:
        """The open turn, closed at the stream's end; None when it holds under 100 ms. If the VAD
        still hears speech, the next turn begins at once (else its first words would be lost)."""
        turn = self.open
        if turn is None or (self.total - turn.start) < MIN_COMMIT_SECONDS * SAMPLE_RATE:
            return None
        closed = self._close(self.total, "")
        if self._vad is not None and self._vad.speaking:
            self._begin(self.total)
            self._on_event("started", self._grown())
        return closed

    def clear(self) -> None:
        """Drop the audio not yet committed (the open turn's too)."""
        self.open = None
        self._trim(self.total)

    def _begin(self, start: int) -> None:
        self.open = Turn(new_item_id(), start, previous_item_id=self._last_item)
        self._last_item = self.open.item_id

    def _grown(self) -> Turn:
        assert self.open is not None
        self.open.samples = self._slice(self.open.start, self.total)
        self.open.end = self.total
        return self.open

    def _close(self, end: int, how: str) -> Turn:
        turn = self.open
        assert turn is not None
        turn.samples, turn.end, turn.closed = self._slice(turn.start, end), end, True
        self.open = None
        if how:
            self._on_event(how, turn)
        self._on_event("committed", turn)
        self._trim(end)
        return turn

    def _slice(self, start: int, end: int) -> Samples:
        joined = np.concatenate(self._chunks) if len(self._chunks) != 1 else self._chunks[0]
        self._chunks = [joined]
        return joined[max(0, start - self._base) : max(0, end - self._base)]

    def _trim(self, keep_from: int) -> None:
        """Forget samples before keep_from (never those of the open turn)."""
        if self.open is not None:
            keep_from = min(keep_from, self.open.start)
        drop = keep_from - self._base
        if drop <= 0 or not self._chunks:
            return
        joined = np.concatenate(self._chunks)
        self._chunks = [joined[drop:]]
        self._base += min(drop, len(joined))
        self._held = len(self._chunks[0])
