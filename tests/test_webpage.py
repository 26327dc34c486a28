"""The web page in Debian's chromium (Playwright, no browser download) against a real server."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, ViewportSize, async_playwright, expect

from tests.conftest import MakeClient
from tests.support import CLIPS, Client, FakeEngine, tone_wav
from transcriber.speech.engine import FasterWhisperEngine

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP: ViewportSize = {"width": 1280, "height": 860}
PHONE: ViewportSize = {"width": 390, "height": 844}
DOCS = Path(__file__).resolve().parent.parent / "docs"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install -y chromium)"),
]
# Records every status a job item showed, so the test can tell the list changed live.
WATCH = """() => { window.seen = [];
  new MutationObserver((ms) => ms.forEach((m) => m.target.dataset && m.target.dataset.status
      && window.seen.push(m.target.dataset.status)))
    .observe(document.getElementById('jobs'), {subtree: true, attributes: true, attributeFilter: ['data-status']}); }"""


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        await chromium.close()


def shots(tmp_path: Path) -> Path:
    """docs/ when UPDATE_SCREENSHOTS=1 (to refresh the README's pictures), else a tmp dir."""
    return DOCS if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path


async def open_page(browser: Browser, client: Client, locale: str) -> tuple[Page, list[str]]:
    """The page in a fresh browser profile, and the list its script errors are collected in."""
    context = await browser.new_context(viewport=DESKTOP, locale=locale, accept_downloads=True)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(str(client.make_url("/")))
    return page, errors


async def test_upload_watch_live_read_play_download_and_screenshots(
    browser: Browser, make_client: MakeClient, tiny_engine: FasterWhisperEngine, tmp_path: Path
) -> None:
    client = await make_client(
        tiny_engine, retention={"keep_audio": True}, summarizer={"enabled": True, "max_sentences": 1}
    )
    page, errors = await open_page(browser, client, "en-US")
    await expect(page.locator("h1")).to_have_text("Transcriber")
    await page.evaluate(WATCH)
    await page.set_input_files("#files", str(CLIPS / "speech.ogg"))
    await page.select_option("#language", "en")
    await page.click("#upload-button")
    await expect(page.locator(".uploads progress")).to_have_js_property("value", 1)
    job = page.locator(".job", has_text="speech.ogg")
    await expect(job).to_have_attribute("data-status", "completed", timeout=60_000)
    seen = await page.evaluate("window.seen")
    assert "completed" in seen and ({"queued", "running"} & set(seen)), f"no live changes seen: {seen}"

    await job.click()
    # How the model cuts the clip into segments differs between CPUs (int8 kernels): the page shows
    # the transcript's own segments, whatever their number.
    starts, later = await _segments(client, await job.get_attribute("data-job-id"), "After lunch")
    segments = page.locator(".segment")
    await expect(segments).to_have_count(len(starts), timeout=20_000)
    await expect(segments.nth(later)).to_contain_text("After lunch")
    await expect(page.locator("#summary")).to_contain_text("weather", timeout=30_000)

    await segments.nth(later).click()
    start = await page.evaluate("document.getElementById('player').currentTime")
    assert abs(start - starts[later]) < 0.3, (start, starts[later])
    await expect(segments.nth(later)).to_have_class("segment current")
    await expect(segments.nth(later)).to_have_attribute("aria-current", "true")
    await expect(segments.nth(0)).not_to_have_class("segment current")

    async with page.expect_download() as info:
        await page.get_by_role("link", name="SRT").click()
    download = await info.value
    assert download.suggested_filename == "speech.srt"
    srt = Path(await download.path()).read_text(encoding="utf-8")
    assert "00:00:00,000 -->" in srt and "After lunch" in srt

    folder = shots(tmp_path)
    await page.mouse.move(0, 0)  # no hover highlight in the pictures
    await page.screenshot(path=folder / "webpage-desktop-en.png")
    await page.select_option("#lang-switch", "ru")
    await expect(page.locator("h1")).to_have_text("Расшифровка")
    await expect(job).to_contain_text("Готово")
    await page.screenshot(path=folder / "webpage-desktop-ru.png")
    await page.set_viewport_size(PHONE)
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "no sideways scrolling"
    await page.locator("#job-title").scroll_into_view_if_needed()
    await page.screenshot(path=folder / "webpage-phone-ru.png")
    await page.select_option("#lang-switch", "en")
    await page.evaluate("window.scrollTo(0, 0)")
    await page.screenshot(path=folder / "webpage-phone-en.png")
    assert errors == []


async def _segments(client: Client, job_id: str | None, words: str) -> tuple[list[float], int]:
    """The transcript's segment starts, and the index of the segment holding `words` (not the first)."""
    body = await (await client.get(f"/jobs/{job_id}/transcript.json")).json()
    texts = [segment["text"] for segment in body["segments"]]
    index = next(i for i, text in enumerate(texts) if words in text)
    assert index > 0, texts
    return [float(segment["start"]) for segment in body["segments"]], index


async def test_api_key_russian_browser_cancel_queued_and_delete(
    browser: Browser, make_client: MakeClient, tmp_path: Path
) -> None:
    engine = FakeEngine(auto=False)  # the first job waits at its gate, so the second stays queued
    client = await make_client(engine, server={"api_keys": ["sekret"]})
    page, errors = await open_page(browser, client, "ru-RU")
    await expect(page.locator("h1")).to_have_text("Расшифровка")
    await expect(page.locator("#key-form")).to_be_visible()
    await page.get_by_label("API-ключ").fill("sekret")
    await page.get_by_label("API-ключ").press("Enter")
    await expect(page.locator("#key-form")).to_be_hidden()

    files = [str(tone_wav(tmp_path / "first.wav", 3)), str(tone_wav(tmp_path / "second.wav", 4))]
    await page.set_input_files("#files", files)
    await page.click("#upload-button")
    await expect(page.locator('.job[data-status="running"]', has_text="first.wav")).to_be_visible()
    queued = page.locator(".job", has_text="second.wav")
    await expect(queued).to_have_attribute("data-status", "queued")
    await queued.focus()
    await page.keyboard.press("Enter")  # keyboard operable
    await expect(page.locator("#job-title")).to_be_focused()
    await page.get_by_role("button", name="Отменить").click()
    await expect(queued).to_have_attribute("data-status", "cancelled")
    await expect(page.locator("#job-state")).to_contain_text("Отменено")
    await expect(page.locator("#announcer")).to_contain_text("second.wav")

    page.on("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Удалить").click()
    await expect(queued).to_have_count(0)
    await expect(page.locator("#job-view")).to_be_hidden()
    engine.gates[3.0].set()
    await expect(page.locator(".job", has_text="first.wav")).to_have_attribute("data-status", "completed")
    assert errors == []


async def test_diarize_on_upload_then_rename_the_speaker_in_place(
    browser: Browser, make_client: MakeClient, tiny_engine: FasterWhisperEngine
) -> None:
    client = await make_client(tiny_engine)
    page, errors = await open_page(browser, client, "en-US")
    await page.set_input_files("#files", str(CLIPS / "hello.wav"))
    await page.check("#diarize")
    await page.click("#upload-button")
    job = page.locator(".job", has_text="hello.wav")
    await expect(job).to_have_attribute("data-status", "completed", timeout=60_000)
    await job.click()
    first = page.locator(".segment").first
    await expect(first.locator(".speaker")).to_have_text("S1: ", timeout=20_000)
    await page.fill("#speaker-fields input[name=S1]", "Anna")
    await page.click("#speaker-names button")
    await expect(first.locator(".speaker")).to_have_text("Anna: ", timeout=20_000)
    job_id = await job.get_attribute("data-job-id")
    status = await (await client.get(f"/status/{job_id}")).json()
    assert status["speakers"][0]["name"] == "Anna" and status["text"].startswith("Anna: ")
    assert errors == []
