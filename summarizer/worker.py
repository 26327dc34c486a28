"""The arq side of summarization: the summarize task and the worker's settings."""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any, Final

import aiohttp
from arq import Retry
from arq.connections import RedisSettings
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from summarizer import core
from summarizer.config import SummarizerSettings, load_summarizer_settings
from summarizer.errors import PermanentSummaryError, TransientSummaryError
from summarizer.retry import gave_up, next_delay
from summarizer.stopping import StopAwareRetry, WorkerStop

log = logging.getLogger(__name__)

DEFAULT_REDIS_URL: Final = "redis://localhost:6379/0"
SETTINGS_KEY: Final = "summarizer_settings"
SESSION_KEY: Final = "http_session"
STOP_KEY: Final = "worker_stop"
# About five minutes of reconnecting (0.5 s doubling to 10 s) rides out a Redis restart;
# a longer outage ends the process, and its supervisor restarts it.
_REDIS_COMMAND_RETRIES: Final = 35
_REDIS_BACKOFF_BASE: Final = 0.25
_REDIS_BACKOFF_CAP: Final = 10.0


def redis_settings_for(url: str | None, stop: WorkerStop | None = None) -> RedisSettings:
    """arq connection settings for url that survive a Redis restart instead of crashing, and
    give up at once when the worker is stopping (see summarizer.stopping)."""
    return dataclasses.replace(
        RedisSettings.from_dsn(url or DEFAULT_REDIS_URL),
        conn_retries=10,
        conn_retry_delay=1,
        retry_on_timeout=True,
        # OSError too: a refused reconnect is raised as a bare OSError inside redis-py's
        # connect(), which retries only the listed errors before it wraps them.
        retry_on_error=[RedisConnectionError, RedisTimeoutError, OSError],
        retry=StopAwareRetry(
            ExponentialBackoff(cap=_REDIS_BACKOFF_CAP, base=_REDIS_BACKOFF_BASE),
            _REDIS_COMMAND_RETRIES,
            stop or WorkerStop(),
        ),
    )


def _retry_or_give_up(job_id: str, job_try: int, max_tries: int, error: TransientSummaryError) -> dict[str, Any]:
    delay = next_delay(job_try, max_tries, error.retry_after)
    if delay is None:
        log.warning("summary of job %s failed after %d tries: %s", job_id, job_try, error)
        return {"ok": False, "error": gave_up(error, job_try)}
    log.warning("summary of job %s: %s; try %d in %.0f s", job_id, error, job_try + 1, delay)
    raise Retry(defer=delay)


async def summarize(ctx: dict[str, Any], job_id: str, text: str, language: str | None) -> dict[str, Any]:
    """The arq task: {"ok": True, "summary"} or {"ok": False, "error"}; Retry on transient."""
    settings: SummarizerSettings = ctx[SETTINGS_KEY]
    job_try = int(ctx.get("job_try", 1))
    log.info("summarizing job %s: try %d, %d chars, language %s", job_id, job_try, len(text), language)
    try:
        summary = await core.summarize(text, language, settings, session=ctx.get(SESSION_KEY))
    except TransientSummaryError as exc:
        return _retry_or_give_up(job_id, job_try, settings.max_tries, exc)
    except PermanentSummaryError as exc:
        log.warning("summary of job %s failed: %s", job_id, exc)
        return {"ok": False, "error": str(exc)}
    log.info("summarized job %s: %d chars", job_id, len(summary))
    return {"ok": True, "summary": summary}


async def on_startup(ctx: dict[str, Any]) -> None:
    """One HTTP session for the life of the worker, so connections to the model are reused."""
    ctx[SESSION_KEY] = aiohttp.ClientSession()
    ctx[STOP_KEY].capture()
    settings: SummarizerSettings = ctx[SETTINGS_KEY]
    log.info("summarizer worker ready: backend %s", settings.backend)


async def on_shutdown(ctx: dict[str, Any]) -> None:
    """Close what on_startup opened."""
    session: aiohttp.ClientSession | None = ctx.pop(SESSION_KEY, None)
    if session is not None:
        await session.close()


def worker_settings(settings: SummarizerSettings) -> type[Any]:
    """The class arq reads its options from, for these settings."""
    stop = WorkerStop()
    options: dict[str, Any] = {
        "__doc__": "arq worker options for summarization.",
        "functions": [summarize],
        "redis_settings": redis_settings_for(settings.redis_url, stop),
        "ctx": {SETTINGS_KEY: settings, STOP_KEY: stop},
        "on_startup": on_startup,
        "on_shutdown": on_shutdown,
        "max_tries": settings.max_tries,
        # Results hold summaries: people's words stay out of the logs.
        "log_results": False,
        # A server that was down for days still finds the summary waiting.
        "keep_result": settings.result_ttl_seconds,
        # Map-reduce over a four-hour transcript is a dozen model calls of up to minutes each.
        "job_timeout": settings.job_timeout_seconds,
        # A local model serves one prompt at a time anyway; more would only queue up there.
        "max_jobs": 4,
        # `arq --check` reads the key written this often; it expires a second after that.
        "health_check_interval": 30,
    }
    return type("WorkerSettings", (), options)


def __getattr__(name: str) -> Any:
    # `arq summarizer.worker.WorkerSettings` looks the class up by name; building it on that
    # lookup keeps reading config.toml and the environment out of import time.
    if name == "WorkerSettings":
        return worker_settings(load_summarizer_settings(os.environ))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
