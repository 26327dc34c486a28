"""OpenAI-compatible chat backend: map-reduce over chunks that fit the model's context."""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import aiohttp

from summarizer.config import OpenAISettings
from summarizer.errors import PermanentSummaryError, TransientSummaryError
from summarizer.languages import language_name
from summarizer.sentences import split_sentences

log = logging.getLogger(__name__)

# Conservative on purpose: Cyrillic and digits take more tokens per character than English,
# and an over-long prompt is silently truncated by servers such as Ollama.
CHARS_PER_TOKEN: Final = 3
_SAFETY_TOKENS: Final = 64
_MIN_CHUNK_CHARS: Final = 200
_MESSAGE_CHARS: Final = 300
_RETRYABLE_STATUSES: Final = frozenset({408, 429})
_THINKING: Final = re.compile(r"^\s*<think>.*?</think>", re.DOTALL)


def estimate_tokens(text: str) -> int:
    """An upper-end guess of the tokens text takes, without the model's tokenizer."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def _pack(pieces: list[str], limit: int, separator: str) -> list[str]:
    """Greedily join consecutive pieces into chunks of at most limit characters."""
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        candidate = f"{current}{separator}{piece}" if current else piece
        if len(candidate) <= limit:
            current = candidate
            continue
        if current:
            chunks.append(current)
        current = piece
    if current:
        chunks.append(current)
    return chunks


def _fit(piece: str, limit: int) -> list[str]:
    """Pieces of at most limit characters, split between words (or anywhere as a last resort)."""
    if len(piece) <= limit:
        return [piece]
    words = [w[i : i + limit] for w in piece.split() for i in range(0, len(w), limit)]
    return _pack(words, limit, " ")


def chunk_text(text: str, limit: int, separator: str = " ") -> list[str]:
    """Chunks of at most limit characters that break between sentences where they can."""
    pieces = [p for s in split_sentences(text) for p in _fit(s, limit)]
    return _pack(pieces, limit, separator)


@dataclass(frozen=True)
class _Chat:
    """One configured endpoint and the session and headers to call it with."""

    settings: OpenAISettings
    session: aiohttp.ClientSession
    headers: Mapping[str, str]
    language: str

    @property
    def url(self) -> str:
        return f"{self.settings.base_url.rstrip('/')}/chat/completions"

    def budget(self, template: str) -> int:
        """Characters of text that fit next to the template and the answer."""
        overhead = estimate_tokens(template.format(text="", language=self.language))
        s = self.settings
        tokens = s.context_tokens - s.max_summary_tokens - overhead - _SAFETY_TOKENS
        chars = tokens * CHARS_PER_TOKEN
        if chars < _MIN_CHUNK_CHARS:
            raise PermanentSummaryError(
                f"context_tokens={s.context_tokens} leaves no room for text next to the prompt "
                f"and max_summary_tokens={s.max_summary_tokens}; raise context_tokens"
            )
        return chars

    async def complete(self, template: str, text: str) -> str:
        prompt = template.format(text=text, language=self.language)
        body = {
            "model": self.settings.model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": self.settings.max_summary_tokens,
            "temperature": 0.2,
            "stream": False,
        }
        status, raw, retry_after = await self._post(body)
        return _answer(self.url, status, raw, retry_after)

    async def _post(self, body: dict[str, Any]) -> tuple[int, str, str | None]:
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout_seconds)
        try:
            async with self.session.post(self.url, json=body, headers=self.headers, timeout=timeout) as response:
                raw = await response.text(errors="replace")
                return response.status, raw, response.headers.get("Retry-After")
        except TimeoutError as exc:
            raise TransientSummaryError(
                f"no answer from {self.url} within {self.settings.timeout_seconds:g} s"
            ) from exc
        except aiohttp.InvalidURL as exc:
            raise PermanentSummaryError(f"invalid base_url {self.settings.base_url!r}") from exc
        except aiohttp.ClientError as exc:
            raise TransientSummaryError(f"cannot reach {self.url}: {exc}") from exc


def server_message(raw: str) -> str:
    """The human part of an error body: OpenAI's {"error": {"message"}}, Ollama's, or text."""
    message: Any = raw
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error", data.get("detail", data.get("message", raw)))
        message = error.get("message", error) if isinstance(error, dict) else error
    text = " ".join(str(message).split()) or "(empty body)"
    return text if len(text) <= _MESSAGE_CHARS else text[: _MESSAGE_CHARS - 1] + "…"


def _retry_after(value: str | None) -> float | None:
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None  # the HTTP-date form is rare from model servers
    return seconds if seconds is not None and math.isfinite(seconds) and seconds >= 0 else None


def _answer(url: str, status: int, raw: str, retry_after: str | None) -> str:
    if status in _RETRYABLE_STATUSES or status >= 500:
        raise TransientSummaryError(
            f"HTTP {status} from {url}: {server_message(raw)}",
            retry_after=_retry_after(retry_after),
        )
    if not 200 <= status < 300:
        raise PermanentSummaryError(f"HTTP {status} from {url}: {server_message(raw)}")
    try:
        content = json.loads(raw)["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise PermanentSummaryError(f"malformed answer from {url}: {server_message(raw)}") from exc
    if not isinstance(content, str):
        raise PermanentSummaryError(f"malformed answer from {url}: content is not text")
    # Reasoning models (e.g. DeepSeek-R1 on Ollama) put their thinking before the answer.
    summary = _THINKING.sub("", content).strip()
    if not summary:
        raise PermanentSummaryError(f"the model at {url} returned an empty summary")
    return summary


async def _reduce(chat: _Chat, partials: list[str]) -> str:
    """Merge partial summaries, in rounds while they do not fit one prompt together."""
    template = chat.settings.reduce_prompt
    limit = chat.budget(template)
    while True:
        groups = _pack([p for s in partials for p in _fit(s, limit)], limit, "\n\n")
        if len(groups) == 1:
            return await chat.complete(template, groups[0])
        if len(groups) >= len(partials):
            raise PermanentSummaryError(
                "partial summaries do not shrink when merged; raise context_tokens or lower max_summary_tokens"
            )
        log.info("merging %d partial summaries in %d groups", len(partials), len(groups))
        partials = [await chat.complete(template, group) for group in groups]


def _headers(settings: OpenAISettings, environ: Mapping[str, str]) -> dict[str, str]:
    key = environ.get(settings.api_key_env, "").strip() if settings.api_key_env else ""
    return {"Authorization": f"Bearer {key}"} if key else {}


async def summarize_openai(
    text: str,
    language: str | None,
    settings: OpenAISettings,
    session: aiohttp.ClientSession,
    *,
    environ: Mapping[str, str] | None = None,
) -> str:
    """Summarize text with a chat model, map-reduce when it does not fit one prompt."""
    headers = _headers(settings, os.environ if environ is None else environ)
    chat = _Chat(settings, session, headers, language_name(settings.language or language))
    chunks = chunk_text(text, chat.budget(settings.prompt))
    if not chunks:
        return ""
    if len(chunks) == 1:
        return await chat.complete(settings.prompt, chunks[0])
    log.info("transcript of %d chars split into %d chunks", len(text), len(chunks))
    partials = [await chat.complete(settings.prompt, chunk) for chunk in chunks]
    return await _reduce(chat, partials)
