"""Several models in one server, end to end: a request names one, it loads on first use, it unloads
when idle, and bad names or broken models are clear errors while the server stays healthy."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AiohttpClient
from tests.support import CLIPS, Client, form, make_settings, submit, wait_status
from transcriber.speech.models import resolve_model
from transcriber.web.app import create_app

MakeServer = Callable[..., Any]


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One models directory for the module: the pip-shipped base is joined into it once."""
    path = tmp_path_factory.mktemp("models")
    resolve_model("base", path)
    return path


@pytest.fixture
def make_server(aiohttp_client: AiohttpClient, tmp_path: Path, models_dir: Path) -> MakeServer:
    """A real server whose default tiny.en and further models load through the real loader."""

    async def make(**whisper: Any) -> Client:
        settings = make_settings(tmp_path / "data", whisper={"models_dir": str(models_dir), **whisper})
        client = await aiohttp_client(create_app(settings))
        await _until(client, lambda h: h["status"] == "ok", timeout=120)
        return client

    return make


async def _health(client: Client) -> dict[str, Any]:
    resp = await client.get("/health")
    body: dict[str, Any] = await resp.json()
    return body


async def _until(client: Client, check: Callable[[dict[str, Any]], bool], timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = await _health(client)
        if check(body):
            return body
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.1)


def _loaded(body: dict[str, Any]) -> dict[str, bool]:
    return {m["name"]: m["loaded"] for m in body["models"]}


async def _result(client: Client, job_id: str) -> dict[str, Any]:
    resp = await client.get(f"/jobs/{job_id}/transcript.json")
    assert resp.status == 200
    document: dict[str, Any] = json.loads(await resp.text())
    return document


async def test_a_request_names_a_further_model_loaded_on_first_use(make_server: MakeServer) -> None:
    client = await make_server(models=["base"], model_ttl=600)
    assert _loaded(await _health(client)) == {"tiny.en": True, "base": False}
    listed = await (await client.get("/v1/models")).json()
    assert {m["id"] for m in listed["data"]} == {"whisper-1", "tiny.en", "base"}

    resp = await client.post("/v1/audio/transcriptions", data=form(CLIPS / "hello.wav", model="base", language="en"))
    body = await resp.json()
    assert resp.status == 200, body
    assert "welcome" in body["text"].lower()
    job_id = resp.headers["X-Job-Id"]
    assert (await _result(client, job_id))["provenance"]["model"] == "base"
    assert _loaded(await _health(client)) == {"tiny.en": True, "base": True}

    plain = await wait_status(client, (await submit(client, CLIPS / "hello.wav"))["job_id"])
    assert plain["status"] == "completed" and "welcome" in plain["text"].lower()
    assert (await _result(client, plain["job_id"]))["provenance"]["model"] == "tiny.en"
    await _unknown_model_names_are_refused(client)


async def test_an_idle_model_is_unloaded_and_loads_again(make_server: MakeServer) -> None:
    # base by default, English-only tiny.en as the further model: its jobs are the quick ones.
    client = await make_server(model="base", models=["tiny.en"], model_ttl=1)
    resp = await client.post("/transcribe", data=form(CLIPS / "hello.wav", model="tiny.en", language="ru"))
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "unsupported_language"
    first = await wait_status(client, (await submit(client, CLIPS / "hello.wav", model="tiny.en"))["job_id"])
    assert first["status"] == "completed", first
    unloaded = await _until(client, lambda h: not _loaded(h)["tiny.en"], timeout=20)
    assert _loaded(unloaded)["base"] is True  # the default model stays
    again = await wait_status(client, (await submit(client, CLIPS / "hello.wav", model="tiny.en"))["job_id"])
    assert again["status"] == "completed" and "welcome" in again["text"].lower()
    assert (await _result(client, again["job_id"]))["provenance"]["model"] == "tiny.en"


async def _unknown_model_names_are_refused(client: Client) -> None:
    before = await (await client.get("/jobs")).json()
    resp = await client.post("/transcribe", data=form(CLIPS / "hello.wav", model="large-v9"))
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "unknown_model"
    resp = await client.post("/v1/audio/transcriptions", data=form(CLIPS / "hello.wav", model="large-v9"))
    assert resp.status == 404
    error = (await resp.json())["error"]
    assert error["code"] == "model_not_found" and error["param"] == "model" and "type" in error
    after = await (await client.get("/jobs")).json()
    assert len(after["jobs"]) == len(before["jobs"])  # nothing was queued for either


async def test_a_model_that_fails_to_load_fails_its_job_only(make_server: MakeServer, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    shutil.copy(resolve_model("tiny.en", tmp_path / "m").path / "config.json", broken / "config.json")
    (broken / "model.bin").write_bytes(b"this is not a CTranslate2 model" * 100)
    client = await make_server(models=[str(broken)])
    assert "broken" in _loaded(await _health(client))

    failed = await wait_status(client, (await submit(client, CLIPS / "hello.wav", model="broken"))["job_id"])
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "model_unavailable"
    assert "broken" in failed["error"]["message"] and "failed to load" in failed["error"]["message"]

    health = await _health(client)
    assert health["status"] == "ok" and _loaded(health)["broken"] is False
    fine = await wait_status(client, (await submit(client, CLIPS / "hello.wav"))["job_id"])
    assert fine["status"] == "completed"
