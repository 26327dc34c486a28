"""Tests for the arq worker (a real redis-server and worker subprocess) and its settings."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from arq.connections import ArqRedis, RedisSettings, create_pool

import summarizer.worker
from summarizer.config import (
    OpenAISettings,
    SummarizerSettings,
    load_summarizer_settings,
    summarizer_settings_from,
)
from summarizer.extractive import summarize_extractive
from summarizer.worker import SETTINGS_KEY, STOP_KEY, worker_settings
from tests.redis_server import RedisServer, free_port

REPO = Path(__file__).resolve().parent.parent
HEALTH_KEY = "arq:queue:health-check"
OUTAGE_SECONDS = 1.5
TEXT = (
    "The team met to plan the spring release. The release depends on the new billing API. "
    "Lunch was late. The billing API needs two more weeks of testing before the release. "
    "Anna will own the billing API tests. Bob will move the release date in the plan. "
    "Everyone agreed that the release plan is realistic now."
)


class WorkerProcess:
    """`python -m summarizer` in a subprocess, with its log in a file."""

    def __init__(self, directory: Path, redis_url: str) -> None:
        config = directory / "config.toml"
        config.write_text("[summarizer]\nmax_sentences = 3\n", encoding="utf-8")
        self.directory = directory
        self.log_path = directory / "worker.log"
        self.env = {
            **os.environ,
            "REDIS_URL": redis_url,
            "TRANSCRIBER_CONFIG": str(config),
            "PYTHONPATH": str(REPO),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, redis_client: redis.Redis) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "summarizer"],
                cwd=self.directory,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while not redis_client.exists(HEALTH_KEY):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start:\n{self.log()}")
            time.sleep(0.05)

    def stop(self) -> int:
        process, self.process = self.process, None
        assert process is not None
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def run(self, *args: str, redis_url: str | None = None) -> subprocess.CompletedProcess[str]:
        env = self.env if redis_url is None else {**self.env, "REDIS_URL": redis_url}
        return subprocess.run(
            list(args),
            cwd=self.directory,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="module")
def worker(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    process = WorkerProcess(tmp_path_factory.mktemp("worker"), redis_server.url)
    client = redis.Redis.from_url(redis_server.url)
    try:
        process.start(client)
        yield process
        assert process.stop() == 0
        assert not client.exists(HEALTH_KEY), "a stopped worker must not look alive"
    finally:
        client.close()


@pytest.fixture
async def pool(redis_server: RedisServer) -> AsyncIterator[ArqRedis]:
    arq_pool = await create_pool(RedisSettings.from_dsn(redis_server.url))
    yield arq_pool
    await arq_pool.aclose()


async def enqueue(pool: ArqRedis, job_id: str) -> Any:
    return await pool.enqueue_job("summarize", job_id, TEXT, "en", _job_id=f"summarize:{job_id}")


async def test_worker_returns_the_summary(worker: WorkerProcess, pool: ArqRedis) -> None:
    job = await enqueue(pool, "job-1")
    result = await job.result(timeout=30, poll_delay=0.05)
    assert result == {"ok": True, "summary": summarize_extractive(TEXT, 3)}
    assert "summarizing job job-1:" in worker.log()


async def test_same_job_id_runs_once(worker: WorkerProcess, pool: ArqRedis) -> None:
    job = await enqueue(pool, "job-2")
    assert job is not None
    assert await enqueue(pool, "job-2") is None
    assert (await job.result(timeout=30, poll_delay=0.05))["ok"] is True
    assert await enqueue(pool, "job-2") is None
    info = await job.result_info()
    assert info is not None and info.job_try == 1
    assert worker.log().count("summarizing job job-2:") == 1


def test_check_passes_while_the_worker_runs(worker: WorkerProcess) -> None:
    own = worker.run(sys.executable, "-m", "summarizer", "--check")
    assert own.returncode == 0, own.stderr
    arq = worker.run(str(Path(sys.executable).with_name("arq")), "summarizer.worker.WorkerSettings", "--check")
    assert arq.returncode == 0, arq.stderr


def test_check_fails_without_a_worker(worker: WorkerProcess, tmp_path: Path) -> None:
    with RedisServer(tmp_path / "lonely") as lonely:
        idle = worker.run(sys.executable, "-m", "summarizer", "--check", redis_url=lonely.url)
    assert idle.returncode == 1
    started = time.monotonic()
    down = f"redis://127.0.0.1:{free_port()}/0"
    unreachable = worker.run(sys.executable, "-m", "summarizer", "--check", redis_url=down)
    assert unreachable.returncode == 1
    assert "cannot reach Redis" in unreachable.stderr
    assert time.monotonic() - started < 15


async def test_worker_survives_a_redis_restart(worker: WorkerProcess, redis_server: RedisServer) -> None:
    await asyncio.to_thread(redis_server.stop)
    # The length of the outage, not a wait for anything: long enough that the worker's
    # 0.5 s poll finds Redis gone and must reconnect, which once killed it.
    await asyncio.sleep(OUTAGE_SECONDS)
    await asyncio.to_thread(redis_server.start)
    arq_pool = await create_pool(RedisSettings.from_dsn(redis_server.url))
    try:
        job = await enqueue(arq_pool, "job-3")
        assert (await job.result(timeout=30, poll_delay=0.05))["ok"] is True
    finally:
        await arq_pool.aclose()
    assert worker.process is not None and worker.process.poll() is None


def test_worker_settings_follow_the_contract() -> None:
    settings = SummarizerSettings(redis_url="redis://db:6380/2", max_tries=3, result_ttl_seconds=99)
    options = worker_settings(settings)
    assert [f.__name__ for f in options.functions] == ["summarize"]
    assert (options.max_tries, options.keep_result) == (3, 99)
    assert options.health_check_interval == 30
    assert options.ctx[SETTINGS_KEY] == settings and not options.ctx[STOP_KEY].stopping
    redis_settings = options.redis_settings
    assert (redis_settings.host, redis_settings.port, redis_settings.database) == ("db", 6380, 2)
    assert redis_settings.conn_retries > 0 and redis_settings.retry is not None


def test_worker_settings_are_built_on_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://elsewhere:7000/0")
    assert summarizer.worker.WorkerSettings.redis_settings.host == "elsewhere"
    with pytest.raises(AttributeError):
        _ = summarizer.worker.NoSuchThing


def test_settings_defaults_and_nested_table() -> None:
    assert summarizer_settings_from({}, {}) == SummarizerSettings()
    section = {
        "backend": "openai",
        "max_sentences": 4,
        "openai": {"model": "qwen2.5", "language": "de"},
    }
    settings = summarizer_settings_from(section, {})
    assert (settings.backend, settings.max_sentences) == ("openai", 4)
    assert settings.openai == OpenAISettings(model="qwen2.5", language="de")
    assert settings.result_ttl_seconds == 7 * 24 * 3600


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"colour": "blue"}, "summarizer.colour"),
        ({"openai": {"temperature": 0.1}}, "summarizer.openai.temperature"),
        ({"openai": {"api_key": "sk-secret"}}, "summarizer.openai.api_key"),
        ({"backend": "gpt"}, "summarizer.backend"),
        ({"enabled": "yes"}, "summarizer.enabled"),
        ({"max_sentences": 0}, "summarizer.max_sentences"),
        ({"max_tries": True}, "summarizer.max_tries"),
        ({"redis_url": "http://x"}, "summarizer.redis_url"),
        ({"openai": {"timeout_seconds": -1}}, "summarizer.openai.timeout_seconds"),
        ({"openai": {"base_url": "localhost:11434"}}, "summarizer.openai.base_url"),
        ({"openai": {"prompt": "Summarize please"}}, "summarizer.openai.prompt"),
        ({"openai": {"reduce_prompt": "{text} {lang}"}}, "summarizer.openai.reduce_prompt"),
        ({"openai": {"context_tokens": 1000, "max_summary_tokens": 600}}, "context_tokens"),
        ({"openai": "ollama"}, "summarizer.openai"),
    ],
)
def test_bad_settings_name_the_key(section: dict[str, Any], key: str) -> None:
    with pytest.raises(ValueError, match=key.replace(".", r"\.")) as caught:
        summarizer_settings_from(section, {})
    assert "sk-secret" not in str(caught.value)


def test_redis_url_from_the_environment_wins() -> None:
    section = {"redis_url": "redis://file:6379/0"}
    from_env = summarizer_settings_from(section, {"REDIS_URL": "redis://env:6379/1"})
    assert from_env.redis_url == "redis://env:6379/1"
    assert summarizer_settings_from(section, {"REDIS_URL": ""}).redis_url is None
    assert summarizer_settings_from(section, {}).redis_url == "redis://file:6379/0"
    with pytest.raises(ValueError, match="REDIS_URL"):
        summarizer_settings_from({}, {"REDIS_URL": "localhost:6379"})


def test_load_settings_finds_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_summarizer_settings({}) == SummarizerSettings()
    (tmp_path / "config.toml").write_text("[summarizer]\nmax_sentences = 5\n", encoding="utf-8")
    assert load_summarizer_settings({}).max_sentences == 5
    named = tmp_path / "other.toml"
    named.write_text("[summarizer]\nenabled = false\n", encoding="utf-8")
    loaded = load_summarizer_settings({"TRANSCRIBER_CONFIG": str(named), "REDIS_URL": "redis://r"})
    assert (loaded.enabled, loaded.max_sentences, loaded.redis_url) == (False, 10, "redis://r")
    with pytest.raises(ValueError, match="TRANSCRIBER_CONFIG"):
        load_summarizer_settings({"TRANSCRIBER_CONFIG": str(tmp_path / "missing.toml")})
    named.write_text("[summarizer\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"other\.toml"):
        load_summarizer_settings({"TRANSCRIBER_CONFIG": str(named)})
