"""`python -m bench.quality`: WER, dropped and invented words per model x mode x decoding setting.

Runs the engine in-process (no server) on every recording bench/quality_audio.py knows and prints
a markdown table; bench/QUALITY.md holds the table the defaults in transcriber/speech/profiles.py rest on.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from bench.fixtures import DEFAULT_AUDIO_DIR, Fixtures
from bench.quality_audio import ENGLISH_PART_END, Recording, recordings
from bench.wer import align
from transcriber.domain.options import JobOptions
from transcriber.outputs.transcript import Transcript
from transcriber.settings import settings_from
from transcriber.speech.engine import FasterWhisperEngine
from transcriber.speech.loader import load_engine
from transcriber.speech.profiles import Decoding
from transcriber.speech.profiles import choose as chosen_decoding

# faster-whisper as the engine called it before issue 13: one language per file, no VAD in
# sequential mode, batched mode merging VAD regions into 30 s windows decoded without timestamps.
BEFORE = Decoding(vad=False, cleanup=False, per_window_language=False, merge_gap=1e9, batched_timestamps=False)
LANG_VAD = replace(BEFORE, per_window_language=True, vad=True, merge_gap=1.0)
SEQUENTIAL: dict[str, Decoding] = {
    "before": BEFORE,
    "+language": replace(BEFORE, per_window_language=True),
    "+language+vad": LANG_VAD,
    "+language+vad+cleanup": replace(LANG_VAD, cleanup=True),
    "+language+vad+silence-guard": replace(LANG_VAD, hallucination_silence=2.0),
    "+language+vad+no-condition": replace(LANG_VAD, condition_on_previous_text=False),
    "+language+vad+no-repeat-3gram": replace(LANG_VAD, no_repeat_ngram_size=3),
    "+language+vad+repetition-penalty": replace(LANG_VAD, repetition_penalty=1.1),
}
BATCHED: dict[str, Decoding] = {
    "before": BEFORE,
    "+timestamps": replace(BEFORE, batched_timestamps=True),
    "+20s-windows": replace(BEFORE, window_seconds=20.0),
    "+15s-windows": replace(BEFORE, window_seconds=15.0),
    "+timestamps+20s-windows": replace(BEFORE, batched_timestamps=True, window_seconds=20.0),
    "+timestamps+15s-windows": replace(BEFORE, batched_timestamps=True, window_seconds=15.0),
    "+timestamps+10s-windows": replace(BEFORE, batched_timestamps=True, window_seconds=10.0),
    "+language+cleanup": replace(BEFORE, per_window_language=True, merge_gap=1.0, cleanup=True),
}


@dataclass
class Score:
    reference_words: int = 0
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    wrong_language_words: int = 0
    seconds: float = 0.0
    audio_seconds: float = 0.0

    def add(self, recording: Recording, transcript: Transcript, seconds: float) -> None:
        segments = transcript.segments
        if recording.name == "multilingual":  # only the English half has a reference text
            segments = tuple(s for s in segments if s.start < ENGLISH_PART_END)
        errors = align(recording.reference, " ".join(s.text for s in segments))
        self.reference_words += errors.reference_words
        self.substitutions += errors.substitutions
        self.deletions += errors.deletions
        self.insertions += errors.insertions
        self.wrong_language_words += sum(
            len(s.text.split())
            for s in transcript.segments
            if s.language and s.language != recording.language_at((s.start + s.end) / 2)
        )
        self.seconds += seconds
        self.audio_seconds += transcript.duration

    @property
    def wer(self) -> float:
        return (self.substitutions + self.deletions + self.insertions) / max(self.reference_words, 1)


def load(model: str, fast: bool, models_dir: Path, threads: int, data_dir: Path) -> FasterWhisperEngine:
    whisper = {"model": model, "fast_mode": fast, "models_dir": str(models_dir), "workers": 1, "cpu_threads": threads}
    return load_engine(settings_from({"whisper": whisper, "summarizer": {"enabled": False}}, {}, base_dir=data_dir))


def score(engine: FasterWhisperEngine, decoding: Decoding, items: list[Recording], detail: bool) -> Score:
    engine.decoding = decoding
    total = Score()
    for rec in items:
        if rec.multilingual_only and not engine.info.multilingual:
            continue
        options = JobOptions(channels="split" if rec.split else "mono")
        started = time.perf_counter()
        transcript = engine.transcribe(rec.path, _duration(rec.path), options, lambda _s, _l: None)
        total.add(rec, transcript, time.perf_counter() - started)
        if detail:
            one = Score()
            one.add(rec, transcript, 0.0)
            print(
                f"    {rec.name:14} WER {one.wer:6.1%} del {one.deletions:3} ins {one.insertions:3}"
                f" wrong-lang {one.wrong_language_words:3} | {transcript.text[:150]!r}",
                flush=True,
            )
    return total


def _duration(path: Path) -> float:
    from transcriber.speech.audio import probe

    return probe(path, 1e9).duration


HEADER = (
    "| model | mode | setting | WER | dropped | invented | wrong-language words | reference words | seconds | RTF |\n"
    "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"
)


def row(model: str, mode: str, name: str, s: Score) -> str:
    rtf = s.seconds / max(s.audio_seconds, 1e-9)
    return (
        f"| {model} | {mode} | {name} | {s.wer:.1%} | {s.deletions} | {s.insertions} | {s.wrong_language_words}"
        f" | {s.reference_words} | {s.seconds:.1f} | {rtf:.3f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__)
    parser.add_argument("--models", default="tiny.en,base")
    parser.add_argument("--modes", default="sequential,batched")
    parser.add_argument("--settings", default="", help="comma-separated names (default: all, plus 'default')")
    parser.add_argument("--recordings", default="", help="comma-separated names (default: all)")
    parser.add_argument("--audio-dir", type=Path, default=DEFAULT_AUDIO_DIR)
    parser.add_argument("--models-dir", type=Path, default=Path("bench/out/models"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--detail", action="store_true", help="one line per recording")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="quality.") as tmp:
        fixtures = Fixtures(args.audio_dir, Path(tmp))
        fixtures.check()
        named = args.recordings.split(",") if args.recordings else []
        items = [r for r in recordings(fixtures) if r.name in named or (not named and not r.on_request)]
        print(HEADER, flush=True)
        for model in args.models.split(","):
            for mode in args.modes.split(","):
                _run_mode(args, model, mode, items, Path(tmp))


def _run_mode(args: argparse.Namespace, model: str, mode: str, items: list[Recording], tmp: Path) -> None:
    engine = load(model, mode == "batched", args.models_dir, args.threads, tmp / "data")
    table = BATCHED if mode == "batched" else SEQUENTIAL
    default = chosen_decoding(model, batched=mode == "batched", multilingual=engine.info.multilingual)
    variants = {**table, "default": default}
    wanted = args.settings.split(",") if args.settings else list(variants)
    for name in wanted:
        print(row(model, mode, name, score(engine, variants[name], items, args.detail)), flush=True)


if __name__ == "__main__":
    main()
