"""known_speaker_names[] with known_speaker_references[] (data URLs of short clips): voices for one request."""

from __future__ import annotations

import base64
import binascii
import re
import tempfile
from pathlib import Path

from transcriber.jobs.voices import MIN_VOICE_SECONDS, clip_voice
from transcriber.web.openai.errors import invalid_param

NAMES, REFERENCES = "known_speaker_names[]", "known_speaker_references[]"
FIELDS = (NAMES, REFERENCES)
MAX_KNOWN = 4  # as OpenAI's API
MAX_CLIP_SECONDS = 10.0
_DATA_URL = re.compile(r"^data:[^,;]*(?:;[^,;]+)*;base64,(.*)$", re.DOTALL)


def voices(lists: dict[str, list[str]]) -> list[list[object]]:
    """[[name, vector], ...] for the request's known speakers; a bad one is a 400 naming the field.

    The clips are at most 10 s each and at most four, so embedding them here (a fraction of a
    second of CPU) is cheaper than carrying the audio to the worker.
    """
    names, references = lists.get(NAMES, []), lists.get(REFERENCES, [])
    if not names and not references:
        return []
    if len(names) != len(references) or len(names) > MAX_KNOWN:
        message = f"Send one {REFERENCES} per {NAMES}, at most {MAX_KNOWN}."
        raise invalid_param(message, NAMES)
    return [[_name(name), list(_vector(reference))] for name, reference in zip(names, references, strict=True)]


def _name(name: str) -> str:
    clean = " ".join(name.split())
    if not clean or len(clean) > 64 or ":" in clean or not clean.isprintable():
        raise invalid_param("Each known speaker name must be 1-64 printable characters without ':'.", NAMES)
    return clean


def _vector(reference: str) -> tuple[float, ...]:
    found = _DATA_URL.match(reference.strip())
    try:
        data = base64.b64decode(found.group(1), validate=True) if found else b""
    except (binascii.Error, ValueError):
        data = b""
    if not data:
        raise invalid_param(f"Each {REFERENCES} must be a base64 data URL of an audio clip.", REFERENCES)
    with tempfile.TemporaryDirectory(prefix="known-speaker-") as tmp:
        path = Path(tmp) / "clip"
        path.write_bytes(data)
        try:
            vector, seconds = clip_voice(path, MAX_CLIP_SECONDS)
        except Exception as exc:  # not audio, or longer than the limit
            raise invalid_param(f"{REFERENCES} must be audio clips of at most 10 s: {exc}", REFERENCES) from exc
    if seconds < MIN_VOICE_SECONDS:
        raise invalid_param(f"A {REFERENCES} clip needs at least {MIN_VOICE_SECONDS:.0f} s of speech.", REFERENCES)
    return vector
