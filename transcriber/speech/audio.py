"""Audio I/O with PyAV: probe an upload, and decode it as bounded 16 kHz chunks cut at quiet points."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16000
PROBE_SECONDS = 0.5
MIN_SECONDS = 0.1
# Stream parameters from the first 32 KiB instead of FFmpeg's default 5 MB: opening a 100 kB clip
# costs half as much (1.7 against 3.5 ms). Format detection keeps its own default; a file whose
# parameters are not found that early is opened again with the defaults.
QUICK_OPEN = {"probesize": "32768"}
Samples = npt.NDArray[np.float32]


class NotAudio(Exception):
    """The file has no decodable audio stream."""


@dataclass(frozen=True)
class AudioInfo:
    duration: float
    format: str
    codec: str
    sample_rate: int
    channels: int


def probe(path: Path, max_seconds: float) -> AudioInfo:
    """Open the file, decode its first seconds of audio, and measure its length.

    The length is the sum of the demuxed packets' durations, never the header's claim: an MP3
    whose Xing frame count or an Ogg whose last granule is edited would otherwise pass as
    short. Packets without a duration are decoded to count their samples. Measuring stops
    once past max_seconds, so a hostile file costs at most that much demuxing.
    """
    try:
        info = _probe(path, max_seconds, QUICK_OPEN)
        if info.sample_rate and info.channels:
            return info
    except NotAudio:
        pass  # parameters that need more than the quick look (a large tag), or not audio at all
    return _probe(path, max_seconds, {})


def _probe(path: Path, max_seconds: float, options: dict[str, str]) -> AudioInfo:
    try:
        with av.open(str(path), metadata_errors="ignore", options=options) as container:
            stream = _audio_stream(container)
            info = _stream_info(container, stream)
            decoded, measured = _measure(container, stream, max_seconds, _pcm_tail(path, container, stream, info))
    # AttributeError: PyAV's stream.rate when a broken header left the stream without a codec context
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError, IndexError, OSError, AttributeError) as exc:
        raise NotAudio(f"the file is not decodable audio ({_reason(exc)})") from exc
    if decoded < MIN_SECONDS:
        raise NotAudio("the file holds no decodable audio (less than 0.1 s)")
    duration = max(measured, decoded)
    if duration > max_seconds:  # measuring stopped early; a longer claim is then the better guess
        duration = max(duration, info.duration)
    return AudioInfo(duration, info.format, info.codec, info.sample_rate, info.channels)


def _audio_stream(container: av.container.InputContainer) -> av.audio.stream.AudioStream:
    if not container.streams.audio:
        raise NotAudio("the file has no audio stream")
    return container.streams.audio[0]


def _stream_info(container: av.container.InputContainer, stream: av.audio.stream.AudioStream) -> AudioInfo:
    duration = 0.0
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / av.time_base
    codec = stream.codec_context.name if stream.codec_context else "unknown"
    return AudioInfo(duration, container.format.name, codec, stream.rate or 0, stream.channels or 0)


def _measure(
    container: av.container.InputContainer,
    stream: av.audio.stream.AudioStream,
    limit: float,
    pcm_tail: Callable[[int, float], float] | None = None,
) -> tuple[float, float]:
    """(seconds decoded from the start, seconds measured in all), stopping past limit.

    pcm_tail, for PCM in a WAV file, gives the seconds after a byte offset (and the seconds measured
    before it) without demuxing them.
    """
    decoded = measured = 0.0
    # Demuxed packets carry the stream's time base; a float read once keeps the per-packet cost to a
    # multiplication (a Fraction per packet was a third of the probe on a long WAV).
    scale = float(stream.time_base) if stream.time_base else 0.0
    for packet in container.demux(stream):
        if packet.size == 0:
            continue  # a flush packet
        seconds = packet.duration * scale if packet.duration else 0.0
        if decoded < PROBE_SECONDS or seconds <= 0:
            got = _decoded_seconds(packet, strict=decoded < PROBE_SECONDS)
            decoded += got
            seconds = seconds or got
        measured += seconds
        if measured > limit:
            break
        if pcm_tail is not None and decoded >= PROBE_SECONDS and packet.pos is not None and packet.pos >= 0:
            return decoded, measured + pcm_tail(packet.pos + packet.size, measured)
    return decoded, measured


PCM_CONTAINERS = ("wav",)


def _pcm_tail(
    path: Path, container: av.container.InputContainer, stream: av.audio.stream.AudioStream, info: AudioInfo
) -> Callable[[int, float], float] | None:
    """For PCM in a WAV file: the seconds of samples after a byte offset, from the file's size.

    A WAV file's PCM bytes are its samples one to one, so the rest needs no demuxing: 1 GiB took
    0.3-0.45 s to measure packet by packet, a tenth of a whole upload's time. The header's data
    size bounds it, as it bounds what the demuxer (and so decoding) reads, but only downwards: a
    claim longer than the file is what a truncated or lying header says, and the bytes win.
    """
    context = stream.codec_context
    if container.format.name not in PCM_CONTAINERS or context is None or not context.name.startswith("pcm_"):
        return None
    bytes_per_second = (context.bit_rate or 0) / 8
    if bytes_per_second <= 0:
        return None
    size = path.stat().st_size
    claimed = info.duration

    def tail(offset: int, measured: float) -> float:
        seconds = max(0.0, (size - offset) / bytes_per_second)
        return min(seconds, max(0.0, claimed - measured)) if claimed > 0 else seconds

    return tail


def _decoded_seconds(packet: av.Packet[av.audio.stream.AudioStream], *, strict: bool) -> float:
    try:
        return sum(f.samples / f.sample_rate for f in packet.decode() if f.sample_rate)
    except av.error.InvalidDataError:
        if strict:
            raise
        return 0.0  # a damaged packet later on: the decoder skips it during transcription too


def _reason(exc: BaseException) -> str:
    text = str(exc).split(":")[0].strip() if str(exc) else type(exc).__name__
    return text[:120] or type(exc).__name__


class AudioTooLong(Exception):
    """Decoding went past the cap: the file is longer than it measured at upload."""


def decode_cap(measured: float) -> float:
    """How far decoding may go for a job measured at upload: its length with a little slack
    (encoder padding, packet rounding), so a file whose packets lie cannot run past its limit."""
    return measured * 1.05 + 2.0


def decode(path: Path, max_seconds: float | None = None) -> Iterator[Samples]:
    """Decode to mono float32 at 16 kHz, block by block; memory stays bounded by the block.

    With max_seconds, raises AudioTooLong as soon as more than that has been decoded.
    """
    limit = None if max_seconds is None else int(max_seconds * SAMPLE_RATE)
    total = 0
    for block in _decode_all(path):
        total += len(block)
        if limit is not None and total > limit:
            raise AudioTooLong(f"the audio decodes to more than {max_seconds:.0f} s")
        yield block


def _decode_all(path: Path) -> Iterator[Samples]:
    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    with av.open(str(path), metadata_errors="ignore") as container:
        stream = _audio_stream(container)
        try:
            for frame in container.decode(stream):
                frame.pts = None  # resampler must not choke on odd timestamps
                yield from (_to_float(f) for f in resampler.resample(frame))
        except av.error.InvalidDataError:
            pass  # a truncated tail: keep what decoded, as ffmpeg does
        yield from (_to_float(f) for f in resampler.resample(None))


def _to_float(frame: av.AudioFrame) -> Samples:
    return (frame.to_ndarray().reshape(-1).astype(np.float32) / 32768.0).astype(np.float32)


def chunks(
    blocks: Iterator[Samples], chunk_seconds: float, search_seconds: float = 5.0
) -> Iterator[tuple[float, Samples]]:
    """Regroup decoded blocks into (offset, samples) chunks of about chunk_seconds.

    Each cut lands on the quietest 100 ms within the last search_seconds of the chunk,
    so a word is rarely split between two chunks.
    """
    target = int(chunk_seconds * SAMPLE_RATE)
    pending: list[Samples] = []
    size, offset = 0, 0
    for block in blocks:
        pending.append(block)
        size += len(block)
        while size >= target + int(search_seconds * SAMPLE_RATE):
            audio = np.concatenate(pending)
            cut = quiet_cut(audio, target, int(search_seconds * SAMPLE_RATE))
            yield offset / SAMPLE_RATE, audio[:cut]
            offset += cut
            pending, size = [audio[cut:]], len(audio) - cut
    if size:
        yield offset / SAMPLE_RATE, np.concatenate(pending)


def quiet_cut(audio: Samples, target: int, search: int) -> int:
    """Index near target (within the search window before it) where 100 ms of audio is quietest."""
    frame = SAMPLE_RATE // 10
    start = max(frame, target - search)
    window = audio[start:target]
    n = len(window) // frame
    if n == 0:
        return target
    energy = np.square(window[: n * frame]).reshape(n, frame).mean(axis=1)
    return start + int(np.argmin(energy)) * frame + frame // 2
