"""POST /transcribe with `url`: the server fetches the recording safely, then treats it as an upload."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import FormData

from tests.conftest import MakeClient
from tests.media_server import MediaServer
from tests.support import CLIPS, TEXTS, Client, FakeEngine, free_port, wait_status
from transcriber.errors import BadRequest
from transcriber.speech.engine import FasterWhisperEngine
from transcriber.web import url_fetch

PRIVATE = {"ingest": {"allow_private_urls": True, "read_seconds": 1.0}}


def url_form(url: str, **fields: str) -> FormData:
    body = FormData(default_to_multipart=True)
    body.add_field("url", url)
    for key, value in fields.items():
        body.add_field(key, value)
    return body


async def post_url(client: Client, url: str, **fields: str) -> tuple[int, dict[str, Any]]:
    resp = await client.post("/transcribe", data=url_form(url, **fields))
    return resp.status, await resp.json()


def leftovers(data_dir: Path) -> list[Path]:
    """Files a failed fetch might leave: partial downloads, placed uploads."""
    uploads = data_dir / "uploads"
    return [p for p in uploads.rglob("*") if p.is_file()] if uploads.is_dir() else []


@pytest.fixture
async def media() -> Any:
    async with MediaServer.of(CLIPS / "hello.wav", CLIPS / "speech.mp3", CLIPS / "texts.json") as server:
        yield server


async def test_a_url_becomes_a_job_with_the_real_model(
    make_client: MakeClient, tiny_engine: FasterWhisperEngine, media: MediaServer, tmp_path: Path
) -> None:
    client = await make_client(tiny_engine, **PRIVATE)
    status, body = await post_url(client, media.url("/files/hello.wav"), job_id="from-url")
    assert status == 202, body
    assert body["job_id"] == "from-url"
    done = await wait_status(client, "from-url")
    assert done["status"] == "completed", done
    assert done["text"].strip().lower().startswith(TEXTS["hello.wav"].strip().lower()[:10])
    # The same URL and job_id again is a safe retry: the same bytes, the same job.
    again, same = await post_url(client, media.url("/files/hello.wav"), job_id="from-url")
    assert (again, same["job_id"]) == (200, "from-url")
    audio = await client.get("/jobs/from-url/audio")
    assert await audio.read() == (CLIPS / "hello.wav").read_bytes()


async def test_redirects_are_followed_and_bodies_without_a_length_counted(
    make_client: MakeClient, fake_engine: FakeEngine, media: MediaServer
) -> None:
    client = await make_client(fake_engine, **PRIVATE)
    target = media.url("/chunked/speech.mp3")
    status, body = await post_url(client, media.url(f"/redirect?to={quote(target)}"))
    assert status == 202, body
    job = await wait_status(client, body["job_id"])
    assert job["status"] == "completed" and job["duration"] > 1


async def test_loopback_is_refused_unless_allowed(
    make_client: MakeClient, fake_engine: FakeEngine, media: MediaServer, tmp_path: Path
) -> None:
    client = await make_client(fake_engine)
    for url in (media.url("/files/hello.wav"), f"http://localhost:{media.port}/files/hello.wav"):
        status, body = await post_url(client, url)
        assert (status, body["error"]["code"]) == (400, "url_not_allowed"), body
        assert "loopback" in body["error"]["message"]
    assert media.requests == []  # refused before connecting
    assert leftovers(tmp_path / "data") == []


ODD_URLS = [
    "ftp://example.com/a.mp3",
    "file:///etc/passwd",
    "gopher://127.0.0.1:70/",
    "javascript:alert(1)",
    "http://user:secret@127.0.0.1/files/hello.wav",
    "http://:secret@127.0.0.1/files/hello.wav",
    "http:///no-host",
    "http://127.0.0.1:0/x",
    "http://127.0.0.1:99999/x",
    "https://[::1]:-1/x",
    "http://[::1/x",
    "not a url at all",
    "http://" + "a" * 3000 + ".com/",
]


async def test_odd_urls_are_refused_with_a_clear_code(
    make_client: MakeClient, fake_engine: FakeEngine, tmp_path: Path
) -> None:
    client = await make_client(fake_engine, **PRIVATE)
    for url in ODD_URLS:
        status, body = await post_url(client, url)
        assert (status, body["error"]["code"]) == (400, "url_not_allowed"), (url, body)
    assert leftovers(tmp_path / "data") == []


async def test_a_redirect_to_an_odd_scheme_is_refused(
    make_client: MakeClient, fake_engine: FakeEngine, media: MediaServer, tmp_path: Path
) -> None:
    client = await make_client(fake_engine, **PRIVATE)
    for to in ("file:///etc/passwd", "ftp://127.0.0.1/x", "http://user:pw@127.0.0.1/files/hello.wav"):
        status, body = await post_url(client, media.url(f"/redirect?to={quote(to)}"))
        assert (status, body["error"]["code"]) == (400, "url_not_allowed"), body
    assert leftovers(tmp_path / "data") == []


async def test_every_redirect_is_checked_and_nothing_connects_to_a_refused_address(tmp_path: Path) -> None:
    """Two real servers, on 127.0.0.1 and 127.0.0.2; the address policy refuses only the second
    (as the real one refuses private ranges): a redirect from the first into the second is refused
    before a connection is made, and nothing stays on disk."""
    async with (
        MediaServer.of(CLIPS / "hello.wav") as first,
        MediaServer.of(CLIPS / "hello.wav", host="127.0.0.2") as second,
    ):
        limits = url_fetch.FetchLimits(
            max_bytes=10**7,
            connect=2,
            read=2,
            total=10,
            max_redirects=3,
            allow_private=False,
            blocked=lambda address: "test-blocked" if address == "127.0.0.2" else None,
        )
        target = tmp_path / "fetched.part"
        fetched = await url_fetch.fetch(first.url("/files/hello.wav"), target, limits)
        assert target.read_bytes() == (CLIPS / "hello.wav").read_bytes()
        assert (fetched.size, fetched.filename) == (target.stat().st_size, "hello.wav")
        target.unlink()
        with pytest.raises(BadRequest) as refused:
            await url_fetch.fetch(first.url(f"/redirect?to={quote(second.url('/files/hello.wav'))}"), target, limits)
        assert refused.value.code == "url_not_allowed" and "test-blocked" in refused.value.message
        assert second.requests == [] and not target.exists()


async def test_too_large_is_refused_declared_or_counted(
    make_client: MakeClient, fake_engine: FakeEngine, tmp_path: Path
) -> None:
    big = b"\0" * (3 * 1024 * 1024)
    async with MediaServer({"big.wav": big}) as server:
        client = await make_client(fake_engine, limits={"max_upload_mb": 1}, **PRIVATE)
        for path in ("/files/big.wav", "/chunked/big.wav", "/endless", "/liar"):
            status, body = await post_url(client, server.url(path))
            assert (status, body["error"]["code"]) == (413, "url_too_large"), (path, body)
            assert leftovers(tmp_path / "data") == [], path


async def test_unreachable_hosts_and_error_answers(
    make_client: MakeClient, fake_engine: FakeEngine, media: MediaServer, tmp_path: Path
) -> None:
    client = await make_client(fake_engine, **PRIVATE)
    for url in (
        media.url("/status/404"),
        media.url("/status/500"),
        media.url("/drip"),  # sends a byte, then nothing: the read timeout (1 s here) ends it
        f"http://127.0.0.1:{free_port()}/closed",
        "http://no-such-host.invalid/a.wav",
        media.url("/loop"),  # redirects to itself, past max_redirects
    ):
        status, body = await post_url(client, url)
        assert (status, body["error"]["code"]) == (400, "url_unreachable"), (url, body)
    assert leftovers(tmp_path / "data") == []


async def test_what_is_fetched_must_be_audio(
    make_client: MakeClient, fake_engine: FakeEngine, media: MediaServer, tmp_path: Path
) -> None:
    client = await make_client(fake_engine, **PRIVATE)
    status, body = await post_url(client, media.url("/files/texts.json"))
    assert (status, body["error"]["code"]) == (415, "not_audio"), body
    assert leftovers(tmp_path / "data") == []


async def test_url_and_file_together_or_bad_fields_are_refused_before_fetching(
    make_client: MakeClient, fake_engine: FakeEngine, media: MediaServer
) -> None:
    client = await make_client(fake_engine, **PRIVATE)
    both = url_form(media.url("/files/hello.wav"))
    both.add_field("file", (CLIPS / "hello.wav").read_bytes(), filename="hello.wav")
    resp = await client.post("/transcribe", data=both)
    assert (resp.status, (await resp.json())["error"]["code"]) == (400, "multiple_files")
    status, body = await post_url(client, media.url("/files/hello.wav"), language="xx")
    assert (status, body["error"]["code"]) == (400, "invalid_language")
    status, body = await post_url(client, media.url("/files/hello.wav"), job_id="bad id!")
    assert (status, body["error"]["code"]) == (400, "invalid_job_id")
    assert media.requests == []


async def test_a_page_url_goes_through_yt_dlp_then_the_checked_fetcher(
    make_client: MakeClient, fake_engine: FakeEngine, media: MediaServer
) -> None:
    """yt-dlp's generic extractor reads the page's <audio>; the file itself comes through our fetcher."""
    client = await make_client(fake_engine, ingest={**PRIVATE["ingest"], "page_urls": True})
    status, body = await post_url(client, media.url("/page/hello.wav"), job_id="from-page")
    assert status == 202, body
    job = await wait_status(client, "from-page")
    assert job["status"] == "completed", job
    audio = await client.get("/jobs/from-page/audio")
    assert await audio.read() == (CLIPS / "hello.wav").read_bytes()
    assert media.requests.count("/files/hello.wav") == 1
    status, body = await post_url(client, media.url("/page/nothing-here.mp3"))
    assert (status, body["error"]["code"]) == (400, "url_unreachable"), body


async def test_a_page_url_is_refused_clearly_when_pages_are_off(
    make_client: MakeClient, fake_engine: FakeEngine, media: MediaServer, tmp_path: Path
) -> None:
    client = await make_client(fake_engine, **PRIVATE)
    status, body = await post_url(client, media.url("/page/speech.mp3"))
    assert (status, body["error"]["code"]) == (415, "not_audio"), body
    assert "web page" in body["error"]["message"]
    assert "/files/speech.mp3" not in media.requests
    assert leftovers(tmp_path / "data") == []


async def test_a_page_pointing_into_a_refused_range_is_refused(tmp_path: Path) -> None:
    """The page is allowed (the test policy allows 127.0.0.1); the audio it names sits on
    127.0.0.2, which the policy refuses: nothing connects there and nothing is kept."""
    async with MediaServer.of(CLIPS / "speech.mp3", host="127.0.0.2") as hidden, MediaServer({}) as page:
        page.files["x"] = b""
        limits = url_fetch.FetchLimits(
            max_bytes=10**7, connect=2, read=5, total=20, max_redirects=3, allow_private=False, pages=True,
            blocked=lambda address: "test-blocked" if address == "127.0.0.2" else None,
        )  # fmt: skip
        target = tmp_path / "fetched.part"
        evil = page.url("/redirect?to=" + quote(hidden.url("/page/speech.mp3")))
        with pytest.raises(BadRequest) as refused:
            await url_fetch.fetch(evil, target, limits)
        assert refused.value.code == "url_not_allowed"
        assert hidden.requests == [] and not target.exists()
