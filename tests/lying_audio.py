"""Real clips edited so that their container under-states the audio's length (for the limit tests)."""

from __future__ import annotations

import struct
from pathlib import Path

from tests.support import CLIPS


def mp3_with_short_xing(out: Path, frames: int = 10, copies: int = 1) -> Path:
    """speech.mp3 with its Xing/Info frame count set to `frames`: the header then claims about
    frames * 26 ms, while every MP3 frame is still there (and `copies` more are appended)."""
    data = bytearray((CLIPS / "speech.mp3").read_bytes())
    tag = max(data.find(b"Xing"), data.find(b"Info"))
    assert tag > 0 and struct.unpack(">I", data[tag + 4 : tag + 8])[0] & 1, "no frame count in the Info tag"
    first_frame = tag - 36  # MPEG-1 mono: the tag sits 36 bytes into the first frame
    data[tag + 8 : tag + 12] = struct.pack(">I", frames)
    out.write_bytes(bytes(data) + bytes(data[first_frame:]) * copies)
    return out


def mp4_with_short_stts(out: Path, delta: int = 256) -> Path:
    """clip.mp4 with the audio track's sample durations (stts) cut from 1024 to `delta`:
    demuxing believes the table, only decoding sees the real length."""
    data = bytearray((CLIPS / "clip.mp4").read_bytes())
    at = 0
    while (at := data.find(b"stts", at + 1)) != -1:
        entries = struct.unpack(">I", data[at + 8 : at + 12])[0]
        for k in range(entries):
            count_at = at + 12 + 8 * k
            if struct.unpack(">I", data[count_at + 4 : count_at + 8])[0] == 1024:  # an AAC frame
                data[count_at + 4 : count_at + 8] = struct.pack(">I", delta)
    out.write_bytes(bytes(data))
    return out


def chained_ogg(out: Path, links: int = 3) -> Path:
    """speech.ogg (14.7 s) chained `links` times: FFmpeg's header duration is the first link's."""
    out.write_bytes((CLIPS / "speech.ogg").read_bytes() * links)
    return out
