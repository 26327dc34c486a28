"""The one entry point that turns transcript text into a summary, whichever the backend."""

from __future__ import annotations

import asyncio

import aiohttp

from summarizer.config import SummarizerSettings
from summarizer.errors import PermanentSummaryError, SummaryError, TransientSummaryError
from summarizer.extractive import summarize_extractive
from summarizer.llm import summarize_openai

__all__ = [
    "PermanentSummaryError",
    "SummaryError",
    "TransientSummaryError",
    "summarize",
]


async def summarize(
    text: str,
    language: str | None,
    settings: SummarizerSettings,
    *,
    session: aiohttp.ClientSession | None = None,
) -> str:
    """Summarize text with the configured backend; raises SummaryError subclasses."""
    if not text.strip():
        return ""
    if settings.backend == "extractive":
        # CPU-bound: numpy releases the GIL for the heavy parts, the event loop stays free.
        return await asyncio.to_thread(summarize_extractive, text, settings.max_sentences)
    if session is not None:
        return await summarize_openai(text, language, settings.openai, session)
    async with aiohttp.ClientSession() as own_session:
        return await summarize_openai(text, language, settings.openai, own_session)
