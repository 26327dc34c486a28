"""Tests for the OpenAI-compatible backend against a real local chat-completions server."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from arq import Retry
from pytest_aiohttp import AiohttpServer

from summarizer import core, retry, worker
from summarizer.config import OpenAISettings, SummarizerSettings
from summarizer.errors import PermanentSummaryError, TransientSummaryError
from summarizer.extractive import split_sentences
from summarizer.llm import CHARS_PER_TOKEN, chunk_text, estimate_tokens, summarize_openai
from tests.redis_server import free_port

MAP = "MAP in {language}:\n{text}"
REDUCE = "REDUCE in {language}:\n{text}"
SENTENCE = "Sentence number {} talks about the quarterly budget of the project."


@dataclass
class Step:
    """How the server answers one request instead of the default summary."""

    status: int = 200
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Call:
    prompt: str
    body: dict[str, Any]
    authorization: str | None


@dataclass
class ChatServer:
    """Speaks /v1/chat/completions, records every prompt, follows a script of failures."""

    base_url: str = ""
    calls: list[Call] = field(default_factory=list)
    script: list[Step] = field(default_factory=list)
    answer_chars: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        prompt = body["messages"][-1]["content"]
        self.calls.append(Call(prompt, body, request.headers.get("Authorization")))
        step = self.script.pop(0) if self.script else None
        if step is not None:
            await asyncio.sleep(step.delay)
            return web.Response(status=step.status, text=step.body, headers=step.headers)
        content = f"summary {len(self.calls)}".ljust(self.answer_chars, "x")
        message = {"role": "assistant", "content": content}
        return web.json_response({"choices": [{"index": 0, "message": message}]})


@pytest.fixture
async def chat(aiohttp_server: AiohttpServer) -> ChatServer:
    server = ChatServer()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", server.handle)
    running = await aiohttp_server(app)
    server.base_url = str(running.make_url("/v1"))
    return server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def settings_for(chat: ChatServer, **changes: Any) -> OpenAISettings:
    base = OpenAISettings(base_url=chat.base_url, prompt=MAP, reduce_prompt=REDUCE)
    return dataclasses.replace(base, **changes)


def transcript(sentences: int) -> str:
    return " ".join(SENTENCE.format(i) for i in range(sentences))


def text_of(call: Call) -> str:
    return call.prompt.split(":\n", 1)[1]


async def test_short_transcript_is_one_call(chat: ChatServer, session: aiohttp.ClientSession) -> None:
    summary = await summarize_openai("Привет. Это тест.", "ru", settings_for(chat), session)
    assert summary == "summary 1"
    [call] = chat.calls
    assert call.prompt == "MAP in Russian:\nПривет. Это тест."
    assert call.body["model"] == "llama3.1"
    assert call.body["max_tokens"] == 512


async def test_long_transcript_is_mapped_then_reduced(chat: ChatServer, session: aiohttp.ClientSession) -> None:
    settings = settings_for(chat, context_tokens=600, max_summary_tokens=100)
    summary = await summarize_openai(transcript(60), "en", settings, session)
    maps = [c for c in chat.calls if c.prompt.startswith("MAP")]
    reduces = [c for c in chat.calls if c.prompt.startswith("REDUCE")]
    assert len(maps) >= 3
    assert chat.calls == [*maps, *reduces] and len(reduces) == 1
    assert summary == f"summary {len(chat.calls)}"
    mapped = [s for call in maps for s in split_sentences(text_of(call))]
    assert mapped == split_sentences(transcript(60))
    expected_partials = "\n\n".join(f"summary {i + 1}" for i in range(len(maps)))
    assert text_of(reduces[0]) == expected_partials
    for call in chat.calls:
        assert estimate_tokens(call.prompt) + 100 <= 600


async def test_partials_too_long_for_one_prompt_are_reduced_in_rounds(
    chat: ChatServer, session: aiohttp.ClientSession
) -> None:
    chat.answer_chars = 500
    settings = settings_for(chat, context_tokens=600, max_summary_tokens=100)
    summary = await summarize_openai(transcript(120), "en", settings, session)
    maps = [c for c in chat.calls if c.prompt.startswith("MAP")]
    reduces = [c for c in chat.calls if c.prompt.startswith("REDUCE")]
    assert len(reduces) > 1
    assert summary.startswith(f"summary {len(chat.calls)}")
    assert all(estimate_tokens(c.prompt) + 100 <= 600 for c in chat.calls)
    assert len(maps) + len(reduces) == len(chat.calls)


async def test_partials_that_never_shrink_fail_permanently(chat: ChatServer, session: aiohttp.ClientSession) -> None:
    chat.answer_chars = 2000
    settings = settings_for(chat, context_tokens=600, max_summary_tokens=100)
    with pytest.raises(PermanentSummaryError, match="context_tokens"):
        await summarize_openai(transcript(60), "en", settings, session)


async def test_context_too_small_for_the_prompt_is_a_permanent_error(
    chat: ChatServer, session: aiohttp.ClientSession
) -> None:
    settings = OpenAISettings(base_url=chat.base_url, context_tokens=300, max_summary_tokens=140)
    with pytest.raises(PermanentSummaryError, match="context_tokens=300"):
        await summarize_openai("Hello there.", "en", settings, session)
    assert chat.calls == []


def test_chunks_split_unpunctuated_text_between_words() -> None:
    words = [f"word{i}" for i in range(3000)]
    chunks = chunk_text(" ".join(words), 500)
    assert all(len(c) <= 500 for c in chunks)
    assert " ".join(chunks).split() == words
    assert chunk_text("x" * 1200, 500) == ["x" * 500, "x" * 500, "x" * 200]


@pytest.mark.parametrize(
    ("language", "override", "expected"),
    [
        ("ru", None, "Russian"),
        ("uk", None, "Ukrainian"),
        ("de", None, "German"),
        (None, None, "the same language as the transcript"),
        ("auto", None, "the same language as the transcript"),
        ("xx", None, "xx"),
        ("ru", "en", "English"),
        ("ru", "Esperanto", "Esperanto"),
    ],
)
async def test_summary_language(
    chat: ChatServer,
    session: aiohttp.ClientSession,
    language: str | None,
    override: str | None,
    expected: str,
) -> None:
    settings = settings_for(chat, language=override)
    await summarize_openai("Some text.", language, settings, session)
    assert chat.calls[0].prompt.startswith(f"MAP in {expected}:")


async def test_default_prompt_names_the_language(chat: ChatServer, session: aiohttp.ClientSession) -> None:
    settings = OpenAISettings(base_url=chat.base_url)
    await summarize_openai("Всем привет.", "ru", settings, session)
    assert "Write the summary in Russian." in chat.calls[0].prompt
    assert chat.calls[0].prompt.endswith("Всем привет.")


async def test_bearer_token_comes_from_the_named_variable(chat: ChatServer, session: aiohttp.ClientSession) -> None:
    settings = settings_for(chat, api_key_env="MY_LLM_KEY")
    await summarize_openai("One.", "en", settings, session, environ={"MY_LLM_KEY": "sk-123"})
    await summarize_openai("Two.", "en", settings, session, environ={})
    assert [c.authorization for c in chat.calls] == ["Bearer sk-123", None]


def openai_error(message: str) -> str:
    return json.dumps({"error": {"message": message, "type": "invalid_request_error"}})


@pytest.mark.parametrize(
    ("step", "error", "message"),
    [
        (Step(429, openai_error("Rate limit reached")), TransientSummaryError, "Rate limit"),
        (Step(500, "Internal Server Error"), TransientSummaryError, "HTTP 500.*Internal"),
        (Step(503, json.dumps({"error": "model is loading"})), TransientSummaryError, "loading"),
        (Step(400, openai_error("context too long")), PermanentSummaryError, "400.*too long"),
        (Step(401, openai_error("Incorrect API key")), PermanentSummaryError, "API key"),
        (Step(404, json.dumps({"error": "model 'x' not found"})), PermanentSummaryError, "'x'"),
        (Step(200, "not json at all"), PermanentSummaryError, "malformed.*not json"),
        (Step(200, json.dumps({"choices": []})), PermanentSummaryError, "malformed"),
        (Step(200, json.dumps({"choices": [{"message": {"content": None}}]})), PermanentSummaryError, "not text"),
        (Step(200, json.dumps({"choices": [{"message": {"content": " "}}]})), PermanentSummaryError, "empty summary"),
    ],
)
async def test_errors_are_mapped(
    chat: ChatServer,
    session: aiohttp.ClientSession,
    step: Step,
    error: type[Exception],
    message: str,
) -> None:
    chat.script = [step]
    with pytest.raises(error, match=message):
        await summarize_openai("Text.", "en", settings_for(chat), session)


async def test_retry_after_is_kept(chat: ChatServer, session: aiohttp.ClientSession) -> None:
    chat.script = [Step(429, "slow down", headers={"Retry-After": "42"})]
    with pytest.raises(TransientSummaryError) as caught:
        await summarize_openai("Text.", "en", settings_for(chat), session)
    assert caught.value.retry_after == 42.0


async def test_long_error_bodies_are_truncated(chat: ChatServer, session: aiohttp.ClientSession) -> None:
    chat.script = [Step(400, openai_error("bad " * 500))]
    with pytest.raises(PermanentSummaryError) as caught:
        await summarize_openai("Text.", "en", settings_for(chat), session)
    assert len(str(caught.value)) < 400


async def test_slow_server_times_out(chat: ChatServer, session: aiohttp.ClientSession) -> None:
    chat.script = [Step(delay=2.0)]
    with pytest.raises(TransientSummaryError, match=r"within 0\.2 s"):
        await summarize_openai("Text.", "en", settings_for(chat, timeout_seconds=0.2), session)


async def test_unreachable_server_is_transient(session: aiohttp.ClientSession) -> None:
    settings = OpenAISettings(base_url=f"http://127.0.0.1:{free_port()}/v1")
    with pytest.raises(TransientSummaryError, match="cannot reach"):
        await summarize_openai("Text.", "en", settings, session)


async def test_reasoning_is_stripped_from_the_answer(chat: ChatServer, session: aiohttp.ClientSession) -> None:
    answer = {"choices": [{"message": {"content": "<think>hmm\nok</think>\n\nThe summary."}}]}
    chat.script = [Step(200, json.dumps(answer))]
    assert await summarize_openai("Text.", "en", settings_for(chat), session) == "The summary."


async def test_core_opens_its_own_session_when_given_none(chat: ChatServer) -> None:
    settings = SummarizerSettings(backend="openai", openai=settings_for(chat))
    assert await core.summarize("Text.", "en", settings) == "summary 1"
    assert await core.summarize("  \n", "en", settings) == ""
    assert len(chat.calls) == 1


def task_context(chat: ChatServer, session: aiohttp.ClientSession, job_try: int) -> dict[str, Any]:
    settings = SummarizerSettings(backend="openai", max_tries=3, openai=settings_for(chat))
    return {worker.SETTINGS_KEY: settings, worker.SESSION_KEY: session, "job_try": job_try}


async def test_task_retries_transient_errors_with_backoff(chat: ChatServer, session: aiohttp.ClientSession) -> None:
    chat.script = [Step(503, "overloaded"), Step(429, "later", headers={"Retry-After": "90"})]
    with pytest.raises(Retry) as first:
        await worker.summarize(task_context(chat, session, 1), "job-1", "Text.", "en")
    with pytest.raises(Retry) as second:
        await worker.summarize(task_context(chat, session, 2), "job-1", "Text.", "en")
    assert (first.value.defer_score, second.value.defer_score) == (10_000, 90_000)
    result = await worker.summarize(task_context(chat, session, 3), "job-1", "Text.", "en")
    assert result == {"ok": True, "summary": "summary 3"}


async def test_task_reports_exhausted_and_permanent_errors(chat: ChatServer, session: aiohttp.ClientSession) -> None:
    chat.script = [Step(500, "still broken"), Step(400, openai_error("bad model name"))]
    exhausted = await worker.summarize(task_context(chat, session, 3), "job-2", "Text.", "en")
    assert exhausted["ok"] is False
    assert "still broken" in exhausted["error"] and "3 tries" in exhausted["error"]
    permanent = await worker.summarize(task_context(chat, session, 1), "job-2", "Text.", "en")
    assert permanent == {"ok": False, "error": permanent["error"]}
    assert "bad model name" in permanent["error"]


def test_backoff_doubles_and_is_capped() -> None:
    assert [retry.backoff_seconds(t) for t in (1, 2, 3)] == [10.0, 20.0, 40.0]
    assert retry.backoff_seconds(30) == retry.BACKOFF_CAP_SECONDS
    assert retry.backoff_seconds(1, retry_after=25.0) == 25.0
    assert CHARS_PER_TOKEN <= 3
