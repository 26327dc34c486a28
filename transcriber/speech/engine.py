"""The Engine protocol and the faster-whisper engine: transcribe in bounded chunks (loader.py loads it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from transcriber.domain.options import JobOptions
from transcriber.domain.speakers import labels
from transcriber.outputs.transcript import Segment, Transcript
from transcriber.setting_sections import WhisperSettings
from transcriber.speech import audio, channels, parts
from transcriber.speech.decoder import Decoder
from transcriber.speech.profiles import Decoding
from transcriber.speech.profiles import choose as choose_decoding
from transcriber.speech.segments import main_language
from transcriber.speech.speakers import by_speaker

# Called from the worker thread after each segment with (segment, detected language).
# It may raise to stop the job (cancellation, shutdown).
SegmentCallback = Callable[[Segment, str | None], None]

# Sequential decoding computes features for the whole input at once (about 2.5 GB per hour), so
# long audio goes through in chunks cut at quiet points; batched mode already works per window.
SEQUENTIAL_CHUNK_SECONDS = 600.0
# Measured on an hour of speech in fast mode (tiny.en): 1200 s chunks took 1.17 GiB above idle; with
# two parts decoding at once 600 s took 973-1036 MiB and 480 s 901 MiB, in the same time (79 s).
BATCHED_CHUNK_SECONDS = 480.0


@dataclass(frozen=True)
class EngineInfo:
    name: str
    path: str
    source: str
    device: str
    compute_type: str
    workers: int
    cpu_threads: int
    fast_mode: bool
    multilingual: bool
    load_seconds: float
    versions: dict[str, str] = field(default_factory=dict)
    languages: tuple[str, ...] = ()  # the codes the model's tokenizer knows, multilingual or not
    wide_threads: int = 0  # threads of the copy a lone short job decodes on (0: none)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Engine(Protocol):
    """What the scheduler needs from a speech engine; a fake one serves scheduler tests."""

    @property
    def info(self) -> EngineInfo: ...

    def transcribe(
        self, path: Path, duration: float, options: JobOptions, on_segment: SegmentCallback, *, wide: bool = False
    ) -> Transcript: ...


class FasterWhisperEngine:
    """A loaded WhisperModel; transcribe() is called from executor threads, one job per thread."""

    def __init__(self, model: Any, info: EngineInfo, whisper: WhisperSettings, wide: Any = None):
        self._model = model
        self._wide = wide  # one replica on every thread, for a job that runs alone
        self._batched = whisper.fast_mode
        self._info = info
        self._whisper = whisper
        self._decoding: Decoding | None = None

    @property
    def info(self) -> EngineInfo:
        return self._info

    def close(self) -> None:
        """Free the weights now (an idle model is unloaded), not whenever the last reference goes."""
        self._model.model.unload_model()
        if self._wide is not None:
            self._wide.model.unload_model()

    @property
    def _beam_size(self) -> int:
        return self._whisper.fast_beam_size if self._batched else self._whisper.beam_size

    @property
    def decoding(self) -> Decoding:
        """The guards this engine decodes with; bench/quality.py swaps them to measure each."""
        if self._decoding is None:
            batched, multilingual = self._batched, self._info.multilingual
            self._decoding = choose_decoding(self._info.name, batched=batched, multilingual=multilingual)
        return self._decoding

    @decoding.setter
    def decoding(self, value: Decoding) -> None:
        self._decoding = value

    def settings_for(self, options: JobOptions) -> dict[str, Any]:
        """The decoding settings a job runs with, recorded in its JSON result."""
        batched = self._batched
        shown = {**options.to_dict(), "known_voices": [name for name, _ in options.known_voices]}  # no vectors
        base: dict[str, Any] = {**shown, "beam_size": self._beam_size, **self.decoding.describe(batched)}
        if batched:
            return {**base, "mode": "batched", "batch_size": self._whisper.batch_size, "vad_filter": True}
        return {**base, "mode": "sequential", "vad_filter": self.decoding.vad}

    def transcribe(
        self, path: Path, duration: float, options: JobOptions, on_segment: SegmentCallback, *, wide: bool = False
    ) -> Transcript:
        """wide: the job runs alone, so it may decode on the one-replica copy with every thread."""
        probs: dict[str, float] = {}  # the detection probability of each language found
        wide = wide and self._wide is not None
        decoder = self._decoder(self._wide if wide else self._model)
        if options.channels == "split":
            segments = self._split_channels(decoder, path, duration, options, on_segment, probs)
        else:
            segments = decoder.stream(audio.decode(path, audio.decode_cap(duration)), options, on_segment, probs)
        language, probability = main_language(segments, options.language, probs)
        provenance: dict[str, Any] = {
            "model": self._info.name,
            "device": self._info.device,
            "compute_type": self._info.compute_type,
            "cpu_threads": self._info.wide_threads if wide else self._info.cpu_threads,
        }
        names: dict[str, str] = {}
        voices: dict[str, tuple[float, ...]] = {}
        if options.diarize:
            split = by_speaker(path, duration, options, segments)
            segments, names, voices, provenance["diarization_seconds"] = (
                split.segments,
                split.names,
                split.voices,
                split.seconds,
            )
        return Transcript(
            language=language,
            language_probability=probability,
            duration=duration,
            segments=tuple(segments),
            settings=self.settings_for(options),
            provenance={**provenance, **self._info.versions},
            show_words=options.word_timestamps,
            speaker_names=names,
            speaker_voices=voices,
        )

    def _decoder(self, model: Any) -> Decoder:
        chunk = self._whisper.chunk_seconds or (BATCHED_CHUNK_SECONDS if self._batched else SEQUENTIAL_CHUNK_SECONDS)
        count, batch = parts.shares(self._batched, self._info.device, self._info.workers, self._whisper.batch_size)
        return Decoder(
            model, self._batched, self.decoding, self._info.multilingual, self._beam_size, batch, chunk, count
        )

    def _split_channels(
        self,
        decoder: Decoder,
        path: Path,
        duration: float,
        options: JobOptions,
        on_segment: SegmentCallback,
        probs: dict[str, float],
    ) -> list[Segment]:
        """Each channel on its own, merged by time; progress runs over both passes."""
        names = labels(options.speakers)
        found: list[list[Segment]] = []
        for index, name in enumerate(names):

            def report(seg: Segment, language: str | None, index: int = index, name: str = name) -> None:
                # Progress is end / duration: the second pass continues where the first ended.
                at = (index * duration + seg.end) / len(names)
                on_segment(replace(seg, speaker=name, end=max(seg.start, at)), language)

            # Our VAD windows keep one channel's turns (apart by the other's) in separate segments.
            own = replace(self.decoding, own_windows=True)
            channel_decoder = replace(decoder, decoding=own)
            blocks = channels.decode_channel(path, index, audio.decode_cap(duration))
            found.append(channel_decoder.stream(blocks, options, report, probs))
        return channels.merge(found, names)
