"""The page's Live button in Debian's chromium, its microphone a fake capture device fed by a WAV file."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import numpy as np
import pytest
from playwright.async_api import async_playwright, expect

from tests.conftest import MakeClient
from tests.live_support import pcm
from tests.support import CLIPS, TEXTS, write_wav
from tests.test_webpage import ARGS, CHROMIUM, DESKTOP
from transcriber.speech.engine import FasterWhisperEngine

# About 20 s (a browser, then a microphone that speaks at real speed): in CI's separate long step.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.storm,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install -y chromium)"),
]


def microphone_wav(tmp_path: Path) -> Path:
    """hello.wav between pauses: what the fake microphone says (chromium plays it in a loop)."""
    speech = np.frombuffer(pcm(CLIPS / "hello.wav", 16000), dtype="<i2").astype(np.float32) / 32768
    quiet = np.zeros(16000, dtype=np.float32)
    return write_wav(tmp_path / "mic.wav", np.concatenate([quiet, speech, quiet, quiet, quiet]))


def letters(text: str) -> str:
    return "".join(re.findall(r"[a-z]", text.lower()))


async def test_live_button_transcribes_the_microphone(
    make_client: MakeClient, tiny_engine: FasterWhisperEngine, tmp_path: Path
) -> None:
    client = await make_client(tiny_engine, server={"api_keys": ["page-key"]})
    fake_mic = [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone_wav(tmp_path)}",
        "--autoplay-policy=no-user-gesture-required",
    ]
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=[*ARGS, *fake_mic])
        context = await browser.new_context(viewport=DESKTOP, locale="en-US")
        await context.grant_permissions(["microphone"])
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(str(client.make_url("/")))
        await page.fill("#api-key", "page-key")
        await page.click("#key-form button")
        await page.select_option("#language", "en")
        button = page.locator("#live-button")
        await expect(button).to_have_text("Live")
        await button.click()
        await expect(button).to_have_attribute("aria-pressed", "true")
        await expect(page.locator("#live-state")).to_have_text("Listening…", timeout=20_000)
        # The sentence's end, then its letters: tiny.en has heard "Hello, and welcome" as "The Low
        # And Well Come" in a live turn, which is the sentence misheard, not the page failing.
        final = page.locator(".live-turn.final").filter(has_text=re.compile("speech", re.I)).first
        await expect(final).to_contain_text(re.compile("test", re.I), timeout=60_000)
        heard = letters(await final.text_content() or "")
        said = letters(TEXTS["hello.wav"])
        assert difflib.SequenceMatcher(None, said, heard).ratio() >= 0.8, (said, heard)
        await button.click()
        await expect(button).to_have_text("Live")
        await expect(page.locator("#live-state")).to_have_text("Stopped.")
        await browser.close()
    assert errors == []
