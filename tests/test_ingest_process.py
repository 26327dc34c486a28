"""Getting recordings into a real `transcriber serve` process: `submit URL`, a tus upload across a kill -9."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest
from click.testing import CliRunner

from bench.wer import word_error_rate
from tests.media_server import MediaServer
from tests.server_process import ServerProcess
from tests.support import CLIPS, TEXTS
from tests.test_cli import run_cli
from tests.tus_support import TUS, in_thread, tus_leftovers
from transcriber.cli.commands import cli

# A server process started, killed -9 and started again (about 7 s): CI runs it in its storm step.
pytestmark = [pytest.mark.slow, pytest.mark.storm]


@pytest.fixture(scope="module")
def private_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server that may fetch from loopback (TRANSCRIBER_ALLOW_PRIVATE_URLS), for the media server."""
    server = ServerProcess(
        tmp_path_factory.mktemp("ingest") / "data",
        TRANSCRIBER_ALLOW_PRIVATE_URLS="true",
        TRANSCRIBER_LOG_LEVEL="WARNING",
    )
    server.start()
    try:
        asyncio.run(server.wait_ready(timeout=120))
        yield server
    finally:
        server.stop()


async def test_submit_url_prints_the_transcript(tmp_path: Path, private_server: ServerProcess) -> None:
    async with MediaServer.of(CLIPS / "hello.wav") as media:
        code, out, err = await run_cli(tmp_path, private_server, "submit", media.url("/files/hello.wav"))
        assert code == 0, err + private_server.output()
        assert word_error_rate(TEXTS["hello.wav"], out) < 0.2, out
        assert "hello.wav" in err


def test_submit_takes_files_and_http_urls_only(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["submit", "ftp://example.com/a.wav"])
    assert result.exit_code == 2 and "neither a file nor an http(s) URL" in result.output, result.output


async def test_a_tus_upload_survives_a_kill_9_of_the_server(tmp_path: Path, private_server: ServerProcess) -> None:
    """tuspy sends part of a file; the server is killed (-9) and started again on its data; the same
    client, with its stored upload URL, resumes from the offset the server kept and the job runs.
    A URL fetch in flight at the kill leaves no partial file after the restart (nor a job)."""
    clip, storage = CLIPS / "speech.mp3", tmp_path / "tus-urls.json"
    first = await in_thread(
        private_server.url, clip, chunk_size=10_000, stop_at=20_000, storage=storage, job_id="resumed"
    )
    assert first["offset"] == 20_000 and "x-job-id" not in first
    incoming = private_server.data_dir / "uploads" / ".incoming"
    async with MediaServer({}) as media, aiohttp.ClientSession() as session:
        form = aiohttp.FormData({"url": media.url("/drip"), "job_id": "fetching"}, default_to_multipart=True)
        fetching = asyncio.ensure_future(session.post(f"{private_server.url}/transcribe", data=form))
        for _ in range(200):  # until the fetch's partial file exists
            if incoming.is_dir() and list(incoming.glob("*.part")):
                break
            await asyncio.sleep(0.05)
        assert list(incoming.glob("*.part")), "the fetch never started"
        private_server.kill9()
        with contextlib.suppress(aiohttp.ClientError):
            (await fetching).close()
    private_server.start()
    await private_server.wait_ready(timeout=120)
    assert list(incoming.glob("*.part")) == []
    async with aiohttp.ClientSession() as session:
        async with session.head(private_server.url + urlsplit(first["url"]).path, headers=TUS) as resp:
            assert (resp.status, resp.headers["Upload-Offset"]) == (200, "20000")
        done = await in_thread(private_server.url, clip, chunk_size=10_000, storage=storage, job_id="resumed")
        assert done["url"] == first["url"] and done["x-job-id"] == "resumed"
        for _ in range(600):
            async with session.get(f"{private_server.url}/status/resumed") as resp:
                job = await resp.json()
            if job["status"] in ("completed", "failed"):
                break
            await asyncio.sleep(0.1)
        assert job["status"] == "completed", job
        assert word_error_rate(TEXTS["speech.mp3"], job["text"]) < 0.3, job["text"]
        async with session.get(f"{private_server.url}/status/fetching") as resp:
            assert resp.status == 404
        async with session.get(f"{private_server.url}/jobs/resumed/audio") as resp:
            assert await resp.read() == clip.read_bytes()
    assert tus_leftovers(private_server.data_dir) == []
