"""One live transcription session: audio in, turns out as partial (never retracted) and final text."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from transcriber.jobs.live_turns import Turn, TurnTracker
from transcriber.speech.audio import SAMPLE_RATE
from transcriber.speech.live import LiveDecoder, carry_prompt
from transcriber.speech.live_audio import PcmResampler, to_pcm16
from transcriber.speech.live_vad import TurnDetection

log = logging.getLogger(__name__)
# Runs one blocking call in the live lane's threads: (function, *args) -> its result.
RunInLane = Callable[..., Awaitable[Any]]
Emit = Callable[[dict[str, Any]], None]  # queues one server event; raises SlowReader when it cannot


class Overloaded(Exception):
    """The client sends audio faster than it can be transcribed, past the session's backlog limit."""


@dataclass(frozen=True)
class SessionConfig:
    rate: int = 24000
    detection: TurnDetection | None = field(default_factory=TurnDetection)
    language: str | None = None
    prompt: str = ""
    model: str = ""


@dataclass(frozen=True)
class Limits:
    max_turn_seconds: float = 20.0
    max_backlog_seconds: float = 30.0
    partial_interval: float = 0.5
    first_partial_seconds: float = 0.8  # less is rarely a whole word


@dataclass(frozen=True)
class FinalTurn:
    """A completed turn as the saved job records it: stream times in seconds and its text."""

    item_id: str
    start: float
    end: float
    text: str


class LiveSession:
    """Decodes in its own task: finished turns first, then the open turn whenever it has grown enough."""

    def __init__(self, decoder: LiveDecoder, run: RunInLane, emit: Emit, limits: Limits, config: SessionConfig):
        self._decoder, self._run, self._emit, self._limits = decoder, run, emit, limits
        self.config = config
        self._resampler = PcmResampler(config.rate)
        self._tracker = self._new_tracker(config)
        self._closed: list[Turn] = []
        self._wake = asyncio.Event()
        self._ending = False
        self.finals: list[FinalTurn] = []
        self.recorded: list[bytes] = []  # 16 kHz PCM16 blocks not yet taken by the recorder
        self.started = time.monotonic()

    def _new_tracker(self, config: SessionConfig) -> TurnTracker:
        return TurnTracker(config.detection, self._limits.max_turn_seconds, self._turn_event)

    def configure(self, config: SessionConfig) -> None:
        """A session.update: a new rate or turn detection applies from the next audio on."""
        if config.rate != self.config.rate:
            self._resampler = PcmResampler(config.rate)
        if config.detection != self.config.detection:
            if self._tracker.open is not None:
                self.commit()
            tracker = self._new_tracker(config)
            tracker.total = self._tracker.total
            self._tracker = tracker
        self.config = config
        self._decoder = replace(self._decoder, language=config.language)

    @property
    def busy(self) -> bool:
        """Turns committed and not yet transcribed."""
        return bool(self._closed)

    @property
    def seconds(self) -> float:
        return self._tracker.total / SAMPLE_RATE

    def append(self, pcm: bytes) -> None:
        samples = self._resampler.feed(pcm)
        self.recorded.append(to_pcm16(samples))
        self._tracker.feed(samples)
        open_turn = self._tracker.open
        backlog = sum(len(t.samples) for t in self._closed) + (len(open_turn.samples) if open_turn else 0)
        if backlog > self._limits.max_backlog_seconds * SAMPLE_RATE:
            limit = self._limits.max_backlog_seconds
            raise Overloaded(f"More than {limit:.0f} s of audio wait to be transcribed; send audio at real speed.")
        self._wake.set()

    def commit(self) -> bool:
        """A client's input_audio_buffer.commit; False when there is under 100 ms to commit."""
        turn = self._tracker.commit()
        return turn is not None

    def clear(self) -> None:
        self._tracker.clear()

    def _turn_event(self, what: str, turn: Turn) -> None:
        at = {"started": turn.start, "stopped": turn.end}
        if what in at:
            key = "audio_start_ms" if what == "started" else "audio_end_ms"
            self._emit(
                {
                    "type": f"input_audio_buffer.speech_{what}",
                    key: round(at[what] * 1000 / SAMPLE_RATE),
                    "item_id": turn.item_id,
                }
            )
            return
        self._emit(
            {"type": "input_audio_buffer.committed", "previous_item_id": turn.previous_item_id, "item_id": turn.item_id}
        )
        self._closed.append(turn)
        self._wake.set()

    async def run(self) -> None:
        """Until end(): decode what is due; a partial only while no finished turn waits."""
        while True:
            if self._closed:
                await self._final(self._closed[0])
                self._closed.pop(0)
                continue
            turn = self._tracker.open
            if turn is not None and self._partial_due(turn):
                await self._partial(turn)
                continue
            if self._ending:
                return
            self._wake.clear()
            await self._wake.wait()

    def _partial_due(self, turn: Turn) -> bool:
        heard, limits = len(turn.samples), self._limits
        grown = heard - turn.decoded_length >= limits.partial_interval * SAMPLE_RATE
        return heard >= limits.first_partial_seconds * SAMPLE_RATE and grown

    def end(self) -> None:
        """Stop after the turns already committed are transcribed."""
        self._ending = True
        self._wake.set()

    def _prompt(self) -> str:
        return carry_prompt(self.config.prompt, [t.text for t in self.finals])

    async def _partial(self, turn: Turn) -> None:
        samples = turn.samples
        turn.decoded_length = len(samples)
        text = await self._run(self._decoder.partial, samples, self._prompt(), turn.agreement.text)
        self._delta(turn, turn.agreement.update(text))  # still before the final: the turn may have closed meanwhile

    async def _final(self, turn: Turn) -> None:
        if turn.heard_all:
            # The last partial decode already heard every voiced sample: its hypothesis is the
            # final one, and the turn ends one decode (up to seconds on a busy CPU) sooner.
            text = "".join(turn.agreement.pending)
        else:
            text = await self._run(self._decoder.continuation, turn.samples, self._prompt(), turn.agreement.text)
        self._delta(turn, turn.agreement.finish(text))
        transcript = turn.agreement.text
        self.finals.append(FinalTurn(turn.item_id, turn.start / SAMPLE_RATE, turn.end / SAMPLE_RATE, transcript))
        self._emit(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": turn.item_id,
                "content_index": 0,
                "transcript": transcript,
            }
        )

    def _delta(self, turn: Turn, delta: str) -> None:
        if delta:
            self._emit(
                {
                    "type": "conversation.item.input_audio_transcription.delta",
                    "item_id": turn.item_id,
                    "content_index": 0,
                    "delta": delta,
                }
            )

    def abandon(self) -> None:
        """Drop every turn not yet transcribed (the client is cut off; nobody would read them)."""
        self._tracker.clear()
        del self._closed[1:]  # the one being decoded finishes

    def close_open_turn(self) -> None:
        """At the end of the session: what was said last is committed and transcribed too."""
        self._tracker.commit()
