"""The page's new ways in, in Debian's chromium: a big file over tus with a lost connection, and a URL."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, Route, expect

from tests.conftest import MakeClient
from tests.media_server import MediaServer
from tests.support import CLIPS, FakeEngine, tone_wav
from tests.test_webpage import CHROMIUM, browser, open_page
from tests.tus_support import tus_leftovers

__all__ = ["browser"]  # the fixture, shared with test_webpage
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install -y chromium)"),
]


async def test_a_big_file_goes_over_tus_and_survives_a_dropped_connection(
    browser: Browser, make_client: MakeClient, fake_engine: FakeEngine, tmp_path: Path
) -> None:
    client = await make_client(fake_engine)
    page, errors = await open_page(browser, client, "en-US")
    patches: list[str] = []

    async def flaky(route: Route) -> None:
        if route.request.method == "PATCH":
            patches.append(route.request.headers["upload-offset"])
            if len(patches) == 2:  # the second chunk's connection is lost
                await route.abort("connectionreset")
                return
        await route.continue_()

    await page.route("**/uploads/**", flaky)
    big = tone_wav(tmp_path / "long-meeting.wav", 330)  # 10.6 MB: over the 8 MiB tus threshold, two chunks
    await page.set_input_files("#files", str(big))
    await page.click("#upload-button")
    await expect(page.locator(".uploads progress")).to_have_js_property("value", 1, timeout=30_000)
    job = page.locator(".job", has_text="long-meeting.wav")
    await expect(job).to_have_attribute("data-status", "completed", timeout=60_000)
    assert patches[:3] == ["0", str(8 * 1024 * 1024), str(8 * 1024 * 1024)], patches  # resumed, not restarted
    jobs = (await (await client.get("/jobs")).json())["jobs"]
    audio = await client.get(f"/jobs/{jobs[0]['job_id']}/audio")
    assert await audio.read() == big.read_bytes()
    assert tus_leftovers(tmp_path / "data") == []
    assert errors == []


async def test_a_link_is_fetched_by_the_server(
    browser: Browser, make_client: MakeClient, fake_engine: FakeEngine
) -> None:
    async with MediaServer.of(CLIPS / "hello.wav") as media:
        client = await make_client(fake_engine, ingest={"allow_private_urls": True})
        page, errors = await open_page(browser, client, "en-US")
        await page.get_by_label("…or a link to a recording").fill(media.url("/files/hello.wav"))
        await page.click("#upload-button")
        job = page.locator(".job", has_text="hello.wav")
        await expect(job).to_have_attribute("data-status", "completed", timeout=60_000)
        await page.get_by_label("…or a link to a recording").fill(media.url("/status/404"))
        await page.click("#upload-button")
        await expect(page.locator(".uploads li.failed")).to_contain_text("answered 404")
        assert errors == []
