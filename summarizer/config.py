"""Summarizer settings: the [summarizer] table of config.toml, with the environment on top."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, get_args

from summarizer.configfile import ConfigError, load_config

Backend = Literal["extractive", "openai"]
BACKENDS: Final = get_args(Backend)
REDIS_SCHEMES: Final = ("redis://", "rediss://", "unix://")

DEFAULT_PROMPT: Final = (
    "Summarize the following transcript of a recording. Write the summary in {language}. "
    "Keep the key points, decisions, names and numbers. Answer with the summary only, "
    "without a preamble.\n\nTranscript:\n{text}"
)
DEFAULT_REDUCE_PROMPT: Final = (
    "The following texts summarize consecutive parts of one recording. Merge them into one "
    "coherent summary written in {language}. Keep the key points, decisions, names and numbers. "
    "Answer with the summary only, without a preamble.\n\nPart summaries:\n{text}"
)


@dataclass(frozen=True)
class OpenAISettings:
    """An OpenAI-compatible chat endpoint; the API key itself is read from api_key_env."""

    base_url: str = "http://localhost:11434/v1"
    model: str = "llama3.1"
    api_key_env: str = "OPENAI_API_KEY"
    timeout_seconds: float = 120.0
    context_tokens: int = 8192
    max_summary_tokens: int = 512
    prompt: str = DEFAULT_PROMPT
    reduce_prompt: str = DEFAULT_REDUCE_PROMPT
    language: str | None = None


@dataclass(frozen=True)
class SummarizerSettings:
    """How summaries are made and where the worker finds Redis (None: in-process)."""

    enabled: bool = True
    backend: Backend = "extractive"
    redis_url: str | None = None
    max_sentences: int = 10
    max_tries: int = 5
    result_ttl_seconds: int = 7 * 24 * 3600
    # Also how long a job whose worker died stays claimed before another worker retries it.
    job_timeout_seconds: int = 3600
    openai: OpenAISettings = field(default_factory=OpenAISettings)


Check = Callable[[str, Any], Any]


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{key}: expected true or false, got {value!r}")
    return value


def _positive_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{key}: expected a positive integer, got {value!r}")
    return value


def _positive_float(key: str, value: Any) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{key}: expected a positive number, got {value!r}")
    return float(value)


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{key}: expected a string, got {value!r}")
    return value.strip()


def _required_text(key: str, value: Any) -> str:
    text = _text(key, value)
    if not text:
        raise ValueError(f"{key}: must not be empty")
    return text


def _optional_text(key: str, value: Any) -> str | None:
    # An empty string is the only way TOML can say "unset".
    return _text(key, value) or None


def _backend(key: str, value: Any) -> str:
    if value not in BACKENDS:
        raise ValueError(f"{key}: expected one of {', '.join(BACKENDS)}, got {value!r}")
    return str(value)


def _http_url(key: str, value: Any) -> str:
    url = _required_text(key, value)
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"{key}: expected an http:// or https:// URL, got {url!r}")
    return url.rstrip("/")


def _redis_url(key: str, value: Any) -> str | None:
    url = _optional_text(key, value)
    if url is not None and not url.startswith(REDIS_SCHEMES):
        raise ValueError(f"{key}: expected a redis://, rediss:// or unix:// URL, got {url!r}")
    return url


def _template(key: str, value: Any) -> str:
    template = _required_text(key, value)
    if "{text}" not in template:
        raise ValueError(f"{key}: the template must contain {{text}}")
    try:
        template.format(text="", language="")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"{key}: only {{text}} and {{language}} may appear in braces; "
            f"write {{{{ and }}}} for literal braces ({exc!r})"
        ) from exc
    return template


_SUMMARIZER_KEYS: Final[Mapping[str, Check]] = {
    "enabled": _bool,
    "backend": _backend,
    "redis_url": _redis_url,
    "max_sentences": _positive_int,
    "max_tries": _positive_int,
    "result_ttl_seconds": _positive_int,
    "job_timeout_seconds": _positive_int,
}
_OPENAI_KEYS: Final[Mapping[str, Check]] = {
    "base_url": _http_url,
    "model": _required_text,
    "api_key_env": _text,
    "timeout_seconds": _positive_float,
    "context_tokens": _positive_int,
    "max_summary_tokens": _positive_int,
    "prompt": _template,
    "reduce_prompt": _template,
    "language": _optional_text,
}


def _parse_table(table: Any, checks: Mapping[str, Check], prefix: str) -> dict[str, Any]:
    if not isinstance(table, Mapping):
        raise ValueError(f"{prefix}: expected a table, got {table!r}")
    if "api_key" in table and prefix.endswith("openai"):
        raise ValueError(
            f"{prefix}.api_key: keep the key out of config.toml; set api_key_env to the name "
            "of the environment variable that holds it"
        )
    for key in table:
        if key not in checks:
            raise ValueError(f"{prefix}.{key}: unknown key (known: {', '.join(checks)})")
    return {key: checks[key](f"{prefix}.{key}", value) for key, value in table.items()}


def _openai_from(table: Any) -> OpenAISettings:
    settings = dataclasses.replace(OpenAISettings(), **_parse_table(table, _OPENAI_KEYS, "summarizer.openai"))
    if settings.context_tokens <= 2 * settings.max_summary_tokens:
        raise ValueError(
            "summarizer.openai.context_tokens: must be more than twice max_summary_tokens "
            f"({settings.context_tokens} <= 2 * {settings.max_summary_tokens})"
        )
    return settings


def summarizer_settings_from(section: Mapping[str, Any], environ: Mapping[str, str]) -> SummarizerSettings:
    """Build settings from the [summarizer] table; REDIS_URL in the environment wins."""
    table = dict(section)
    openai = _openai_from(table.pop("openai", {}))
    values = _parse_table(table, _SUMMARIZER_KEYS, "summarizer")
    if "REDIS_URL" in environ:
        values["redis_url"] = _redis_url("REDIS_URL", environ["REDIS_URL"])
    return dataclasses.replace(SummarizerSettings(openai=openai), **values)


def load_summarizer_settings(environ: Mapping[str, str]) -> SummarizerSettings:
    """Settings for a worker process: the server's config file lookup, then the environment."""
    document, path = load_config(environ)
    section = document.get("summarizer", {})
    if not isinstance(section, Mapping):
        raise ConfigError(f"{path}: summarizer: expected a table")
    try:
        return summarizer_settings_from(section, environ)
    except ConfigError:
        raise
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
