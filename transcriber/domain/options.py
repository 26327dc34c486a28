"""Job options and job ids: parsing and validation of the form fields a client sends."""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import asdict, dataclass
from typing import Any

from yarl import URL

from transcriber.domain.speakers import channel_options, diarize_options
from transcriber.errors import BadRequest, Code, invalid

JOB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
TEXT_FIELDS = (
    "job_id",
    "language",
    "task",
    "word_timestamps",
    "initial_prompt",
    "hotwords",
    "callback_url",
    "channels",
    "speakers",
    "model",  # one of the server's models (API.md "Models"); the job service checks it
    "diarize",
    "min_speakers",
    "max_speakers",
)
MAX_PROMPT_CHARS = 2000
MAX_URL_CHARS = 2048


@dataclass(frozen=True)
class JobOptions:
    language: str | None = None
    task: str = "transcribe"
    word_timestamps: bool = False
    initial_prompt: str | None = None
    hotwords: str | None = None
    channels: str = "mono"  # mono: downmix; split: each channel of a stereo call on its own
    speakers: tuple[str, ...] | None = None  # names for channel 0 and 1 (channel_0/1 otherwise)
    diarize: bool = False  # mono: who spoke when, from voice vectors (speech/diarize.py)
    min_speakers: int | None = None
    max_speakers: int | None = None
    # /v1 known_speaker_names[] + references: (name, voice vector) pairs this job's speakers may match.
    known_voices: tuple[tuple[str, tuple[float, ...]], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobOptions:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if known.get("speakers") is not None:
            known["speakers"] = tuple(known["speakers"])  # JSON gives a list back
        if "known_voices" in known:
            known["known_voices"] = tuple((str(n), tuple(float(x) for x in v)) for n, v in known["known_voices"])
        return cls(**known)


def check_job_id(job_id: str) -> str:
    if not JOB_ID_RE.fullmatch(job_id):
        raise BadRequest(
            "job_id must be 1-128 characters of letters, digits and . _ : - starting with a letter or digit.",
            code=Code.INVALID_JOB_ID,
        )
    return job_id


def parse_options(fields: dict[str, str], *, languages: Collection[str], multilingual: bool) -> JobOptions:
    """Validate the optional form fields against what the model knows; unknown values are a 400."""
    return JobOptions(
        language=_language(fields.get("language", "").strip().lower(), languages, multilingual),
        task=_task(fields.get("task", "").strip().lower() or "transcribe", multilingual),
        word_timestamps=_boolean("word_timestamps", fields.get("word_timestamps", "")),
        initial_prompt=_prompt("initial_prompt", fields.get("initial_prompt")),
        hotwords=_prompt("hotwords", fields.get("hotwords")),
        **channel_options(fields),
        **diarize_options(fields),
        known_voices=_known_voices(fields.get("known_voices")),
    )


def _known_voices(value: str | None) -> tuple[tuple[str, tuple[float, ...]], ...]:
    """Set only by the /v1 route (never a form field): [[name, vector], ...] as JSON."""
    if not value:
        return ()
    return tuple((str(name), tuple(float(x) for x in vector)) for name, vector in json.loads(value))


def _language(value: str, languages: Collection[str], multilingual: bool) -> str | None:
    if value in ("", "auto"):
        return None
    if value not in languages:
        raise BadRequest(f"language {value!r} is not an ISO 639-1 code Whisper knows.", code=Code.INVALID_LANGUAGE)
    if not multilingual and value != "en":
        raise BadRequest(
            f"The loaded model is English-only and cannot transcribe language {value!r}.",
            code=Code.UNSUPPORTED_LANGUAGE,
        )
    return value


def _task(value: str, multilingual: bool) -> str:
    if value not in ("transcribe", "translate"):
        raise BadRequest("task must be 'transcribe' or 'translate'.", code=Code.INVALID_TASK)
    if value == "translate" and not multilingual:
        raise BadRequest("The loaded model is English-only and cannot translate.", code=Code.UNSUPPORTED_TASK)
    return value


def _boolean(name: str, value: str) -> bool:
    text = value.strip().lower()
    if text in ("", "false", "0", "no"):
        return False
    if text in ("true", "1", "yes"):
        return True
    raise BadRequest(f"{name} must be true or false.", code=invalid(name))


def _prompt(name: str, value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    if len(value) > MAX_PROMPT_CHARS:
        raise BadRequest(f"{name} is longer than {MAX_PROMPT_CHARS} characters.", code=invalid(name))
    return value


def parse_callback_url(value: str | None) -> str | None:
    """The webhook target's syntax (where it resolves to is checked by netguard)."""
    text = (value or "").strip()
    if not text:
        return None
    problem = None
    if len(text) > MAX_URL_CHARS:
        problem = f"is longer than {MAX_URL_CHARS} characters"
    else:
        try:
            url = URL(text)
            if url.scheme not in ("http", "https") or not url.raw_host:
                problem = "must be an absolute http:// or https:// URL"
            _ = url.port
        except ValueError:
            problem = "is not a valid URL"
    if problem:
        raise BadRequest(f"callback_url {problem}.", code=Code.INVALID_CALLBACK_URL)
    return text
