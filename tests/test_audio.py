"""Audio I/O: probe the committed clips, reject non-audio, decode to 16 kHz mono, cut chunks."""

from __future__ import annotations

import random
import struct
import wave
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import CLIPS, TEXTS, write_wav
from transcriber.speech import audio
from transcriber.speech.audio import SAMPLE_RATE, NotAudio, Samples

FRAME = SAMPLE_RATE // 10  # the 100 ms that quiet_cut measures
CLIP_NAMES = sorted(TEXTS)  # texts.json lists the committed clips


def real_seconds(path: Path) -> float:
    """Audio length by decoding every frame at the stream's own rate (no metadata, no resampling)."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return sum(frame.samples / frame.sample_rate for frame in container.decode(stream))


def test_clips_are_there() -> None:
    assert len(CLIP_NAMES) >= 5
    assert all((CLIPS / name).is_file() for name in CLIP_NAMES)


@pytest.mark.parametrize("name", CLIP_NAMES)
def test_probe_committed_clips(name: str) -> None:
    info = audio.probe(CLIPS / name, max_seconds=14400)
    assert info.duration == pytest.approx(real_seconds(CLIPS / name), abs=0.1)
    assert 1.0 < info.duration < 60.0
    assert info.channels >= 1
    assert info.sample_rate >= 8000
    assert info.format and info.codec


def test_probe_wav_details() -> None:
    info = audio.probe(CLIPS / "hello.wav", max_seconds=14400)
    with wave.open(str(CLIPS / "hello.wav")) as wav:
        frames, rate = wav.getnframes(), wav.getframerate()
    assert info.duration == pytest.approx(frames / rate, abs=1e-3)
    assert (info.format, info.codec, info.sample_rate) == ("wav", "pcm_s16le", rate)


def test_probe_long_synthetic_wav(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "long.wav", np.zeros(SAMPLE_RATE * 90, dtype=np.float32))
    assert audio.probe(path, max_seconds=10).duration == pytest.approx(90.0, abs=0.01)


def empty_wav(path: Path) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
    return path


def not_audio_files(tmp_path: Path) -> dict[str, Path]:
    files = {
        "random.bin": random.Random(7).randbytes(64 * 1024),
        "random.mp3": random.Random(8).randbytes(64 * 1024),  # the name must not fool it
        "empty.wav": b"",
        "notes.txt": ("the quick brown fox\n" * 200).encode(),
        "page.html": b"<!doctype html><html><body>" + b"x" * 5000 + b"</body></html>",
    }
    paths = {}
    for name, data in files.items():
        paths[name] = tmp_path / name
        paths[name].write_bytes(data)
    paths["header-only.wav"] = empty_wav(tmp_path / "header-only.wav")
    paths["too-short.wav"] = write_wav(tmp_path / "too-short.wav", np.zeros(SAMPLE_RATE // 20))
    return paths


@pytest.mark.parametrize(
    "name",
    [
        "random.bin",
        "random.mp3",
        "empty.wav",
        "notes.txt",
        "page.html",
        "header-only.wav",
        "too-short.wav",
    ],
)
def test_probe_rejects_non_audio(tmp_path: Path, name: str) -> None:
    path = not_audio_files(tmp_path)[name]
    with pytest.raises(NotAudio) as caught:
        audio.probe(path, max_seconds=14400)
    assert str(caught.value)


def test_probe_missing_file_is_not_audio(tmp_path: Path) -> None:
    with pytest.raises(NotAudio):
        audio.probe(tmp_path / "absent.wav", max_seconds=14400)


# --- decode ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CLIP_NAMES)
def test_decode_gives_mono_16k_float32_of_the_right_length(name: str) -> None:
    blocks = list(audio.decode(CLIPS / name))
    assert blocks
    assert all(b.dtype == np.float32 and b.ndim == 1 for b in blocks)
    samples = np.concatenate(blocks)
    assert np.abs(samples).max() <= 1.0
    assert np.abs(samples).max() > 0.01  # speech, not silence
    duration = audio.probe(CLIPS / name, max_seconds=14400).duration
    # AAC and Opus carry encoder priming (tens of ms) that the container duration leaves out
    assert len(samples) / SAMPLE_RATE == pytest.approx(duration, abs=0.1)


def test_decode_16k_wav_is_sample_exact(tmp_path: Path) -> None:
    pcm = np.random.default_rng(5).integers(-20000, 20000, SAMPLE_RATE * 3).astype("<i2")
    path = tmp_path / "exact.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm.tobytes())
    samples = np.concatenate(list(audio.decode(path)))
    np.testing.assert_array_equal(samples, pcm.astype(np.float32) / 32768.0)


@pytest.mark.parametrize("name", ["hello.wav", "numbers.flac"])
def test_decode_lossless_clip_length_is_exact(name: str) -> None:
    samples = np.concatenate(list(audio.decode(CLIPS / name)))
    seconds = real_seconds(CLIPS / name)
    assert len(samples) / SAMPLE_RATE == pytest.approx(seconds, abs=0.002)


def test_decode_downmixes_and_resamples(tmp_path: Path) -> None:
    rate, seconds = 44100, 2
    t = np.arange(rate * seconds) / rate
    tone = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
    path = tmp_path / "stereo.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.stack([tone, tone], axis=1).tobytes())
    samples = np.concatenate(list(audio.decode(path)))
    assert len(samples) == pytest.approx(SAMPLE_RATE * seconds, abs=SAMPLE_RATE * 0.01)
    assert np.abs(samples).max() == pytest.approx(0.3, abs=0.02)


# --- chunks and quiet_cut --------------------------------------------------------------------


def speechlike(seed: int, seconds: float, burst: tuple[float, float], gap: float) -> Samples:
    """Noise bursts of random length (burst range, seconds) separated by gap seconds of silence."""
    rng = np.random.default_rng(seed)
    parts: list[Samples] = []
    total = 0
    while total < seconds * SAMPLE_RATE:
        length = int(rng.uniform(*burst) * SAMPLE_RATE)
        parts.append((rng.standard_normal(length) * 0.2).astype(np.float32))
        parts.append(np.zeros(int(gap * SAMPLE_RATE), dtype=np.float32))
        total += length + int(gap * SAMPLE_RATE)
    return np.concatenate(parts)


def in_blocks(signal: Samples, sizes: list[int]) -> Iterator[Samples]:
    """Feed the signal as decode() would: blocks of varying size (sizes repeat)."""
    start, i = 0, 0
    while start < len(signal):
        yield signal[start : start + sizes[i % len(sizes)]]
        start += sizes[i % len(sizes)]
        i += 1


def check_reassembles(signal: Samples, pieces: list[tuple[float, Samples]]) -> None:
    position = 0
    for offset, piece in pieces:
        assert offset == position / SAMPLE_RATE
        assert piece.dtype == np.float32
        position += len(piece)
    assert position == len(signal)
    joined = np.concatenate([p for _, p in pieces]) if pieces else np.zeros(0, np.float32)
    np.testing.assert_array_equal(joined, signal)


def test_chunks_cut_in_the_silences() -> None:
    chunk_s, search_s = 20.0, 5.0
    signal = speechlike(seed=1, seconds=150, burst=(1.5, 3.5), gap=0.6)
    pieces = list(audio.chunks(in_blocks(signal, [1152, 4096, 333, 20000]), chunk_s, search_s))
    check_reassembles(signal, pieces)
    target, search = int(chunk_s * SAMPLE_RATE), int(search_s * SAMPLE_RATE)
    assert len(pieces) >= 6
    for _, piece in pieces[:-1]:
        assert target - search <= len(piece) <= target
    assert 0 < len(pieces[-1][1]) < target + search
    for offset, _ in pieces[1:]:
        cut = round(offset * SAMPLE_RATE)
        around = signal[cut - FRAME // 2 : cut + FRAME // 2]
        assert not around.any(), f"cut at {offset:.2f} s is not in a silence"


def test_short_input_is_one_chunk() -> None:
    signal = speechlike(seed=2, seconds=10, burst=(1, 2), gap=0.3)
    pieces = list(audio.chunks(in_blocks(signal, [4096]), chunk_seconds=30))
    assert len(pieces) == 1
    check_reassembles(signal, pieces)


def test_no_input_no_chunks() -> None:
    assert list(audio.chunks(iter([]), chunk_seconds=30)) == []


@settings(max_examples=50, deadline=None)
@given(
    st.integers(min_value=0, max_value=SAMPLE_RATE * 12),
    st.lists(st.integers(min_value=1, max_value=9000), min_size=1, max_size=6),
    st.integers(min_value=0, max_value=2**32 - 1),
)
def test_chunks_always_reassemble(length: int, sizes: list[int], seed: int) -> None:
    signal = np.random.default_rng(seed).uniform(-1, 1, length).astype(np.float32)
    pieces = list(audio.chunks(in_blocks(signal, sizes), chunk_seconds=1.0, search_seconds=0.5))
    check_reassembles(signal, pieces)
    for _, piece in pieces[:-1]:
        assert SAMPLE_RATE // 2 <= len(piece) <= SAMPLE_RATE
    if pieces:
        assert len(pieces[-1][1]) < SAMPLE_RATE * 1.5


def loud(samples: int, seed: int = 3) -> Samples:
    return (np.random.default_rng(seed).uniform(0.3, 0.6, samples)).astype(np.float32)


def test_quiet_cut_picks_the_quietest_100ms() -> None:
    signal = loud(SAMPLE_RATE * 3)
    target, search = 2 * SAMPLE_RATE, SAMPLE_RATE  # window: 1.0 s .. 2.0 s
    quiet_start = SAMPLE_RATE + 6 * FRAME  # 1.6 s, on a 100 ms step of the window
    signal[quiet_start : quiet_start + FRAME] *= 0.01
    signal[quiet_start - 3 * FRAME : quiet_start - 2 * FRAME] *= 0.1  # quiet, but not quietest
    assert audio.quiet_cut(signal, target, search) == quiet_start + FRAME // 2


def test_quiet_cut_lands_inside_an_unaligned_pause() -> None:
    signal = loud(SAMPLE_RATE * 3)
    pause = slice(int(1.234 * SAMPLE_RATE), int(1.534 * SAMPLE_RATE))  # 300 ms, off the grid
    signal[pause] = 0
    cut = audio.quiet_cut(signal, 2 * SAMPLE_RATE, SAMPLE_RATE)
    assert pause.start + FRAME // 2 <= cut <= pause.stop - FRAME // 2
    assert not signal[cut - FRAME // 2 : cut + FRAME // 2].any()


def test_quiet_cut_ignores_quiet_audio_outside_the_window() -> None:
    signal = loud(SAMPLE_RATE * 3)
    signal[: SAMPLE_RATE // 2] = 0  # silence before the window must not win
    signal[int(2.2 * SAMPLE_RATE) :] = 0  # nor silence after the target
    cut = audio.quiet_cut(signal, 2 * SAMPLE_RATE, SAMPLE_RATE)
    assert SAMPLE_RATE <= cut < 2 * SAMPLE_RATE


def test_quiet_cut_window_smaller_than_a_frame_returns_target() -> None:
    signal = loud(SAMPLE_RATE)
    assert audio.quiet_cut(signal, 8000, FRAME - 1) == 8000


def test_quiet_cut_never_cuts_in_the_first_frame() -> None:
    signal = loud(SAMPLE_RATE)
    signal[:FRAME] = 0
    cut = audio.quiet_cut(signal, 8000, 8000)
    assert FRAME <= cut < 8000


def _pcm_wav(path: Path, seconds: float, rate: int = 48000, channels: int = 2) -> Path:
    pcm = (np.sin(np.arange(int(seconds * rate) * channels) * 0.01) * 3000).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return path


def _counted(path: Path) -> float:
    """Seconds by demuxing every packet, the way any other container is measured."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        scale = float(stream.time_base or 0)
        return float(sum((p.duration or 0) * scale for p in container.demux(stream) if p.size))


def test_pcm_wav_is_measured_from_its_bytes_as_exactly_as_by_demuxing(tmp_path: Path) -> None:
    path = _pcm_wav(tmp_path / "long.wav", 600.0)
    assert audio.probe(path, max_seconds=14400).duration == pytest.approx(_counted(path), abs=0.01)
    assert audio.probe(path, max_seconds=14400).duration == pytest.approx(600.0, abs=0.01)


def test_pcm_wav_with_a_chunk_after_its_data_counts_only_the_data(tmp_path: Path) -> None:
    path = _pcm_wav(tmp_path / "tagged.wav", 30.0)
    tag = b"LIST" + struct.pack("<I", 4 + 4 + 4 + 200_000) + b"INFO" + b"ICMT" + struct.pack("<I", 200_000)
    with path.open("ab") as fh:
        fh.write(tag + b"x" * 200_000)  # about 1 s of bytes at 192 kB/s that are not audio
    riff = path.stat().st_size - 8
    with path.open("r+b") as fh:
        fh.seek(4)
        fh.write(struct.pack("<I", riff))
    assert audio.probe(path, max_seconds=14400).duration == pytest.approx(30.0, abs=0.01)


def test_pcm_wav_whose_header_claims_more_than_it_holds_is_measured_by_its_bytes(tmp_path: Path) -> None:
    path = _pcm_wav(tmp_path / "truncated.wav", 60.0)
    with path.open("r+b") as fh:
        fh.truncate(44 + 48000 * 4 * 20)  # 20 s of the 60 the header claims
    assert audio.probe(path, max_seconds=14400).duration == pytest.approx(20.0, abs=0.01)


def test_pcm_wav_whose_header_claims_less_than_it_holds_is_what_decoding_gives(tmp_path: Path) -> None:
    path = _pcm_wav(tmp_path / "short-claim.wav", 60.0)
    with path.open("r+b") as fh:  # the data chunk says 10 s; 60 s of samples follow
        fh.seek(40)
        fh.write(struct.pack("<I", 48000 * 4 * 10))
    measured = audio.probe(path, max_seconds=14400).duration
    decoded = sum(len(b) for b in audio.decode(path)) / SAMPLE_RATE
    assert measured == pytest.approx(decoded, abs=0.05)
