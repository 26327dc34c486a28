"""Shared fixtures: the real tiny.en and base engines (loaded once), app clients on real SQLite in tmp
dirs, a real PostgreSQL server (started once) with a fresh database per test, and stores of both kinds."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from tests import history_db
from tests.pg_server import PgServer, find_bindir
from tests.server_process import ServerProcess
from tests.store_backends import BACKENDS, Peek, pg_peek, sqlite_peek
from tests.support import Client, FakeEngine, make_settings
from transcriber.speech.engine import Engine, FasterWhisperEngine
from transcriber.speech.loader import load_engine
from transcriber.store.backend import open_store
from transcriber.store.postgres import open_pg_store
from transcriber.store.sqlite import Store
from transcriber.web.app import create_app

AiohttpClient = Callable[..., Awaitable[Client]]
MakeClient = Callable[..., Awaitable[Client]]

# Property tests check behaviour, not speed: on a shared 2-core machine a slow example is no failure.
hypothesis_settings.register_profile("shared-machine", deadline=None)
hypothesis_settings.load_profile("shared-machine")


@pytest.fixture(scope="session")
def tiny_engine(tmp_path_factory: pytest.TempPathFactory) -> FasterWhisperEngine:
    """The real pip-shipped tiny.en model, loaded once for the whole session."""
    settings = make_settings(tmp_path_factory.mktemp("engine"))
    return load_engine(settings)


@pytest.fixture(scope="session")
def base_engine(tmp_path_factory: pytest.TempPathFactory) -> FasterWhisperEngine:
    """The default model: the pip-shipped multilingual base (its halves joined once), for the session."""
    settings = make_settings(tmp_path_factory.mktemp("base-engine"), whisper={"model": "base"})
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


def serve(data_dir: Path, **env: str) -> Iterator[ServerProcess]:
    """A real server process on data_dir, ready; stopped when the generator ends."""
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
    yield from serve(tmp_path_factory.mktemp("tiny-server") / "data", TRANSCRIBER_API_KEYS=API_KEY)


@pytest.fixture(scope="session")
def base_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The multilingual base model (pip-shipped), loaded once for the session, for translation."""
    yield from serve(
        tmp_path_factory.mktemp("base-server") / "data", WHISPER_MODEL="base", TRANSCRIBER_API_KEYS=API_KEY
    )


@pytest.fixture(scope="session")
def big_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A jobs.db with 100k finished jobs (tests/history_db.py); tests that change it use a copy."""
    return history_db.build(tmp_path_factory.mktemp("history") / "jobs.db")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One real PostgreSQL cluster for the session (initdb once); skipped only if not installed."""
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (no initdb on PATH or in /usr/lib/postgresql/*/bin)")
    server = PgServer(bindir)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def pg_migrated(pg_server: PgServer) -> str:
    """A database with every migration applied, copied (CREATE DATABASE ... TEMPLATE) per test."""
    pg_server.psql("postgres", "CREATE DATABASE migrated TEMPLATE template0")
    with ThreadPoolExecutor(1) as thread:  # its own event loop, outside any test's
        thread.submit(asyncio.run, _migrate(pg_server.url("migrated"))).result()
    return "migrated"


async def _migrate(url: str) -> None:
    await (await open_pg_store(url)).close()


def _database(pg_server: PgServer, template: str) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    pg_server.psql("postgres", f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield pg_server.url(name)
    pg_server.psql("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_server: PgServer, pg_migrated: str) -> Iterator[str]:
    """A fresh database with the current schema, dropped after the test."""
    yield from _database(pg_server, pg_migrated)


@pytest.fixture
def pg_empty_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh, empty database (no migrations yet), dropped after the test."""
    yield from _database(pg_server, "template0")


@pytest.fixture(params=BACKENDS)
async def store_and_peek(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Store, Peek]]:
    """A migrated store of either backend, and a reader on its own connection."""
    if request.param == "sqlite":
        db = tmp_path / "data" / "jobs.db"
        opened = await open_store(db)
        peek = sqlite_peek(db)
    else:
        url = request.getfixturevalue("pg_url")
        opened = await open_pg_store(url)
        peek = pg_peek(url)
    yield opened, peek
    await opened.close()


@pytest.fixture
def store(store_and_peek: tuple[Store, Peek]) -> Store:
    return store_and_peek[0]


@pytest.fixture
def peek(store_and_peek: tuple[Store, Peek]) -> Peek:
    return store_and_peek[1]


Mount = Callable[[Path, int], Path]
needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="mounting a small tmpfs as a full disk needs root (the tests run as root in CI)"
)


@pytest.fixture
def small_disk() -> Iterator[Mount]:
    mounted: list[Path] = []

    def mount(path: Path, size_kb: int) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(path)], check=True)
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], check=False)
