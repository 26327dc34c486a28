"""GET /jobs/{job_id}/audio: the upload while it is kept, with Range for seeking; 404 otherwise."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import MakeClient
from tests.support import CLIPS, FakeEngine, submit, wait_status
from transcriber.web.page import STATIC


async def test_audio_is_served_with_ranges_while_kept(make_client: MakeClient) -> None:
    client = await make_client(FakeEngine(), retention={"keep_audio": True})
    await submit(client, CLIPS / "speech.ogg", job_id="kept")
    await wait_status(client, "kept")
    original = (CLIPS / "speech.ogg").read_bytes()
    resp = await client.get("/jobs/kept/audio")
    assert resp.status == 200 and resp.headers["Content-Type"] == "audio/ogg"
    assert resp.headers.get("Accept-Ranges") == "bytes" and await resp.read() == original
    part = await client.get("/jobs/kept/audio", headers={"Range": "bytes=1000-1999"})
    assert part.status == 206 and await part.read() == original[1000:2000]
    assert part.headers["Content-Range"] == f"bytes 1000-1999/{len(original)}"
    bad = await client.get("/jobs/kept/audio", headers={"Range": f"bytes={len(original) + 10}-"})
    assert bad.status == 416


async def test_audio_not_kept_or_unknown_is_404(make_client: MakeClient, tmp_path: Path) -> None:
    client = await make_client(FakeEngine(), retention={"keep_audio": False})
    await submit(client, CLIPS / "hello.wav", job_id="dropped")
    await wait_status(client, "dropped")
    resp = await client.get("/jobs/dropped/audio")
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "audio_not_found"
    resp = await client.get("/jobs/unknown/audio")
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "job_not_found"
    assert (await client.delete("/jobs/dropped")).status == 200
    assert (await client.get("/jobs/dropped/audio")).status == 404


async def test_page_and_static_files_are_served(make_client: MakeClient) -> None:
    client = await make_client(FakeEngine())
    page = await client.get("/")
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    html = await page.text()
    assert 'src="static/app.js"' in html and "<label" in html
    kinds = {".js": "javascript", ".css": "text/css", ".html": "text/html"}
    for path in sorted(STATIC.iterdir()):
        resp = await client.get(f"/static/{path.name}")
        assert resp.status == 200 and kinds[path.suffix] in resp.headers["Content-Type"], path.name
        for imported in re.findall(r'from "\./([\w.]+)"', path.read_text(encoding="utf-8")):
            assert (STATIC / imported).is_file(), f"{path.name} imports a missing {imported}"
    assert (await client.get("/static/../app.py")).status == 404
