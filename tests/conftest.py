"""Shared fixtures: the real tiny.en engine (loaded once), app clients on real SQLite in tmp dirs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server_process import ServerProcess
from tests.support import Client, FakeEngine, make_settings
from transcriber.app import create_app
from transcriber.engine import Engine, FasterWhisperEngine, load_engine

AiohttpClient = Callable[..., Awaitable[Client]]
MakeClient = Callable[..., Awaitable[Client]]


@pytest.fixture(scope="session")
def tiny_engine(tmp_path_factory: pytest.TempPathFactory) -> FasterWhisperEngine:
    """The real pip-shipped tiny.en model, loaded once for the whole session."""
    settings = make_settings(tmp_path_factory.mktemp("engine"))
    return load_engine(settings)


@pytest.fixture
def make_client(aiohttp_client: AiohttpClient, tmp_path: Path) -> MakeClient:
    """A real server app on a tmp data dir: make_client(engine, **config_sections)."""

    async def make(engine: Engine, data_dir: Path | None = None, **sections: Any) -> Client:
        settings = make_settings(data_dir or tmp_path / "data", **sections)
        return await aiohttp_client(create_app(settings, engine=engine))

    return make


@pytest.fixture
async def client(make_client: MakeClient, tiny_engine: FasterWhisperEngine) -> Client:
    return await make_client(tiny_engine)


@pytest.fixture
def fake_engine() -> FakeEngine:
    return FakeEngine()


API_KEY = "test-key"


def _serve(data_dir: Path, **env: str) -> Iterator[ServerProcess]:
    server = ServerProcess(data_dir, None, **env)
    server.start()
    try:
        asyncio.run(server.wait_ready(timeout=180))
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def tiny_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """`transcriber serve` with tiny.en and one API key, as a subprocess shared by the session."""
    yield from _serve(tmp_path_factory.mktemp("tiny-server") / "data", TRANSCRIBER_API_KEYS=API_KEY)


@pytest.fixture(scope="session")
def base_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The multilingual base model (pip-shipped), loaded once for the session, for translation."""
    yield from _serve(
        tmp_path_factory.mktemp("base-server") / "data", WHISPER_MODEL="base", TRANSCRIBER_API_KEYS=API_KEY
    )
