"""Getting recordings into a real `transcriber serve` process: `submit URL`, the environment switch."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.wer import word_error_rate
from tests.media_server import MediaServer
from tests.server_process import ServerProcess
from tests.support import CLIPS, TEXTS
from tests.test_cli import clean_env
from transcriber.cli.commands import cli

pytestmark = pytest.mark.slow


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


async def run_cli(tmp_path: Path, server: ServerProcess, *args: str) -> tuple[int, str, str]:
    env = clean_env(tmp_path / "client-side", TRANSCRIBE_SERVER_URL=server.url)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "transcriber",
        *args,
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_submit_url_prints_the_transcript(tmp_path: Path, private_server: ServerProcess) -> None:
    async with MediaServer.of(CLIPS / "hello.wav") as media:
        code, out, err = await run_cli(tmp_path, private_server, "submit", media.url("/files/hello.wav"))
        assert code == 0, err + private_server.output()
        assert word_error_rate(TEXTS["hello.wav"], out) < 0.2, out
        assert "hello.wav" in err


def test_submit_takes_files_and_http_urls_only(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["submit", "ftp://example.com/a.wav"])
    assert result.exit_code == 2 and "neither a file nor an http(s) URL" in result.output, result.output
