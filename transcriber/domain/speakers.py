"""The channels and speakers form fields: which stereo calls to split and what to call each side."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from transcriber.errors import BadRequest, Code

if TYPE_CHECKING:  # options imports this module for the form fields
    from transcriber.domain.options import JobOptions

CHANNEL_MODES = ("mono", "split")
MAX_NAME_CHARS = 64
SPLIT_CHANNELS = 2
MAX_SPEAKERS = 16


def diarize_options(fields: dict[str, str]) -> dict[str, Any]:
    """diarize, min_speakers, max_speakers as JobOptions keywords; a bad value is a 400 naming the field."""
    diarize = fields.get("diarize", "").strip().lower()
    if diarize not in ("", "true", "false", "1", "0", "yes", "no"):
        raise BadRequest("diarize must be true or false.", code=Code.INVALID_DIARIZE)
    on = diarize in ("true", "1", "yes")
    bounds = {name: _bound(name, fields.get(name, "")) for name in ("min_speakers", "max_speakers")}
    if not on and any(v is not None for v in bounds.values()):
        raise BadRequest("min_speakers and max_speakers need diarize=true.", code=Code.INVALID_SPEAKER_COUNT)
    low, high = bounds["min_speakers"], bounds["max_speakers"]
    if low is not None and high is not None and low > high:
        raise BadRequest("min_speakers must not be above max_speakers.", code=Code.INVALID_SPEAKER_COUNT)
    if on and fields.get("channels", "").strip().lower() == "split":
        raise BadRequest(
            "diarize works on mono recordings; with channels=split each channel is already one speaker.",
            code=Code.INVALID_DIARIZE,
        )
    return {"diarize": on, "min_speakers": low, "max_speakers": high}


def _bound(name: str, value: str) -> int | None:
    text = value.strip()
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= MAX_SPEAKERS:
        raise BadRequest(f"{name} must be a whole number from 1 to {MAX_SPEAKERS}.", code=Code.INVALID_SPEAKER_COUNT)
    return int(text)


def channel_options(fields: dict[str, str]) -> dict[str, Any]:
    """channels and speakers as JobOptions keywords; a bad value is a 400 naming the field."""
    channels = fields.get("channels", "").strip().lower() or "mono"
    if channels not in CHANNEL_MODES:
        raise BadRequest("channels must be 'mono' or 'split'.", code=Code.INVALID_CHANNELS)
    raw = fields.get("speakers", "").strip()
    if not raw:
        return {"channels": channels, "speakers": None}
    if channels != "split":
        raise BadRequest("speakers names the two channels, so it needs channels=split.", code=Code.INVALID_SPEAKERS)
    return {"channels": channels, "speakers": _names(raw)}


def _names(raw: str) -> tuple[str, ...]:
    names = tuple(" ".join(name.split()) for name in raw.split(","))
    if len(names) != 2 or not all(names):
        raise BadRequest("speakers must be two comma-separated names, one per channel.", code=Code.INVALID_SPEAKERS)
    # A name becomes a "Name: " line prefix in the text and the summary; a colon would blur it.
    if any(len(n) > MAX_NAME_CHARS or ":" in n or not n.isprintable() for n in names):
        raise BadRequest(
            f"each speaker name must be printable, without ':' and at most {MAX_NAME_CHARS} characters.",
            code=Code.INVALID_SPEAKERS,
        )
    if names[0] == names[1]:
        raise BadRequest("the two speaker names must differ.", code=Code.INVALID_SPEAKERS)
    return names


def check_name(name: str) -> str:
    """A speaker's display name: printable, without ':', 1-64 characters (it prefixes text lines)."""
    clean = " ".join(name.split())
    if not clean or len(clean) > MAX_NAME_CHARS or ":" in clean or not clean.isprintable():
        raise BadRequest(
            f"each speaker name must be printable, without ':' and 1-{MAX_NAME_CHARS} characters.",
            code=Code.INVALID_SPEAKERS,
        )
    return clean


def labels(speakers: tuple[str, ...] | None) -> tuple[str, str]:
    """The label of each channel's segments."""
    if speakers and len(speakers) == 2:
        return speakers[0], speakers[1]
    return "channel_0", "channel_1"


def check_channels(options: JobOptions, channels: int) -> None:
    """channels=split needs a two-channel recording: a 400 at upload rather than a failed job."""
    if options.channels == "split" and channels != SPLIT_CHANNELS:
        raise BadRequest(
            f"channels=split needs a two-channel (stereo) recording; this one has {channels} channel(s).",
            code=Code.INVALID_CHANNELS,
        )
