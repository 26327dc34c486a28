"""The official openai SDK, unchanged, against a real `transcriber serve` with the real model."""

from __future__ import annotations

import asyncio
import base64
import io
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from openai import OpenAI

from tests.conftest import API_KEY
from tests.server_process import ServerProcess
from tests.support import CLIPS, speech_wav

pytestmark = pytest.mark.slow
HELLO = CLIPS / "hello.wav"
# This SDK release marks audio.translations.create deprecated (it still sends the same request).
SDK_TRANSLATIONS = pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")


MakeSDK = Callable[..., OpenAI]


@pytest.fixture
def sdk() -> Iterator[MakeSDK]:
    """sdk(server, key=...): the official client pointed at a server, closed after the test."""
    made: list[OpenAI] = []

    def make(server: ServerProcess, key: str = API_KEY) -> OpenAI:
        made.append(OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0, timeout=120))
        return made[-1]

    yield make
    for client in made:
        client.close()


async def get(server: ServerProcess, path: str, **params: Any) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {API_KEY}"}) as session,
        session.get(f"{server.url}{path}", params=params) as resp,
    ):
        return resp.status, await resp.json()


def words_of(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def test_json_and_text(tiny_server: ServerProcess, sdk: MakeSDK) -> None:
    client = sdk(tiny_server)
    with HELLO.open("rb") as fh:
        result = client.audio.transcriptions.create(model="whisper-1", file=fh)
    assert {"hello", "welcome", "speech", "test"} <= words_of(result.text)
    with HELLO.open("rb") as fh:
        text = client.audio.transcriptions.create(model="tiny.en", file=fh, response_format="text")
    assert isinstance(text, str) and text.endswith("\n") and "\n" not in text[:-1]
    assert {"hello", "welcome"} <= words_of(text)


def test_srt_and_vtt(tiny_server: ServerProcess, sdk: MakeSDK) -> None:
    client = sdk(tiny_server)
    with HELLO.open("rb") as fh:
        srt = client.audio.transcriptions.create(model="whisper-1", file=fh, response_format="srt")
    assert re.match(r"1\n00:00:\d\d,\d{3} --> 00:00:\d\d,\d{3}\n\S", srt), srt
    with HELLO.open("rb") as fh:
        vtt = client.audio.transcriptions.create(model="whisper-1", file=fh, response_format="vtt")
    assert vtt.startswith("WEBVTT\n") and re.search(r"00:00:\d\d\.\d{3} --> 00:00:\d\d\.\d{3}\n", vtt), vtt
    assert "welcome" in vtt.lower() and "welcome" in srt.lower()


def test_verbose_json_words_and_segments(tiny_server: ServerProcess, sdk: MakeSDK) -> None:
    with HELLO.open("rb") as fh:
        result = sdk(tiny_server).audio.transcriptions.create(
            model="whisper-1", file=fh, response_format="verbose_json", timestamp_granularities=["word", "segment"]
        )
    assert result.to_dict()["task"] == "transcribe" and result.language == "english"
    assert 2.0 < result.duration < 10.0 and "welcome" in result.text.lower()
    assert result.segments and result.words
    for i, seg in enumerate(result.segments):
        assert seg.id == i and 0 <= seg.start <= seg.end <= result.duration + 0.5
        assert seg.tokens and all(isinstance(t, int) for t in seg.tokens)
        assert seg.avg_logprob < 0 and 0 <= seg.no_speech_prob <= 1 and seg.compression_ratio > 0
        assert seg.temperature == 0.0 and seg.seek >= 0
    assert [w.word for w in result.words][:2] == ["Hello,", "and"]
    assert all(w.start <= w.end for w in result.words)
    starts = [w.start for w in result.words]
    assert starts == sorted(starts)


def test_verbose_json_defaults_to_segments_only(tiny_server: ServerProcess, sdk: MakeSDK) -> None:
    with HELLO.open("rb") as fh:
        result = sdk(tiny_server).audio.transcriptions.create(
            model="whisper-1", file=fh, response_format="verbose_json", language="en", prompt="Welcome."
        )
    assert result.segments and result.words is None
    with HELLO.open("rb") as fh:
        only_words = sdk(tiny_server).audio.transcriptions.create(
            model="whisper-1", file=fh, response_format="verbose_json", timestamp_granularities=["word"]
        )
    assert only_words.words and only_words.segments is None


def test_wrong_key_is_authentication_error(tiny_server: ServerProcess, sdk: MakeSDK) -> None:
    with pytest.raises(openai.AuthenticationError) as caught, HELLO.open("rb") as fh:
        sdk(tiny_server, key="wrong").audio.transcriptions.create(model="whisper-1", file=fh)
    assert caught.value.status_code == 401 and caught.value.code == "invalid_api_key"
    assert caught.value.type == "invalid_request_error"


def test_unknown_model_is_not_found(tiny_server: ServerProcess, sdk: MakeSDK) -> None:
    with pytest.raises(openai.NotFoundError) as caught, HELLO.open("rb") as fh:
        sdk(tiny_server).audio.transcriptions.create(model="gpt-4o-transcribe", file=fh)
    assert caught.value.code == "model_not_found" and "gpt-4o-transcribe" in caught.value.message
    with pytest.raises(openai.NotFoundError):
        sdk(tiny_server).models.retrieve("whisper-2")


def test_models(tiny_server: ServerProcess, sdk: MakeSDK) -> None:
    client = sdk(tiny_server)
    assert [m.id for m in client.models.list()] == ["whisper-1", "tiny.en"]
    model = client.models.retrieve("tiny.en")
    assert model.object == "model" and model.owned_by == "transcriber" and model.created > 1_700_000_000


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"model": "whisper-1", "response_format": "xml"}, "response_format"),
        ({"model": "whisper-1", "temperature": "2"}, "temperature"),
        ({"model": "whisper-1", "timestamp_granularities[]": "word"}, "timestamp_granularities[]"),
        ({"model": "whisper-1", "language": "xx"}, "language"),
        ({"model": "whisper-1", "stream": "sometimes"}, "stream"),
        ({"response_format": "json"}, "model"),
        ({"model": "whisper-1", "colour": "blue"}, None),
    ],
)
async def test_bad_input_is_400_in_openai_shape(
    tiny_server: ServerProcess, fields: dict[str, str], param: str | None
) -> None:
    form = aiohttp.FormData(fields)
    form.add_field("file", io.BytesIO(HELLO.read_bytes()), filename="hello.wav")
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {API_KEY}"}) as session,
        session.post(f"{tiny_server.url}/v1/audio/transcriptions", data=form) as resp,
    ):
        status, error = resp.status, (await resp.json())["error"]
    assert status == 400, error
    assert set(error) == {"message", "type", "param", "code"} and error["type"] == "invalid_request_error"
    assert error["param"] == param and error["message"]


@SDK_TRANSLATIONS
def test_not_audio_and_english_only_translation(tiny_server: ServerProcess, sdk: MakeSDK) -> None:
    client = sdk(tiny_server)
    with pytest.raises(openai.APIStatusError) as caught:
        client.audio.transcriptions.create(model="whisper-1", file=("noise.wav", b"not audio at all"))
    assert caught.value.status_code == 415 and caught.value.code == "not_audio"
    with pytest.raises(openai.BadRequestError) as bad, HELLO.open("rb") as fh:
        client.audio.translations.create(model="whisper-1", file=fh)
    assert bad.value.code == "unsupported_task"


async def test_own_error_shape_stays_outside_v1(tiny_server: ServerProcess) -> None:
    status, body = await get(tiny_server, "/status/nope")
    assert status == 404 and body == {"error": {"code": "job_not_found", "message": body["error"]["message"]}}
    status, body = await get(tiny_server, "/v1/nothing-here")
    assert status == 404 and body["error"]["type"] == "invalid_request_error"


async def test_each_request_is_a_job_in_jobs(tiny_server: ServerProcess, sdk: MakeSDK) -> None:
    def call() -> Any:
        with HELLO.open("rb") as fh:
            return sdk(tiny_server).audio.transcriptions.with_raw_response.create(model="whisper-1", file=fh)

    raw = await asyncio.to_thread(call)
    job_id = raw.headers["x-job-id"]
    _, status = await get(tiny_server, f"/status/{job_id}")
    assert status["status"] == "completed" and status["text"] == raw.parse().text
    _, page = await get(tiny_server, "/jobs", limit="200")
    assert job_id in [j["job_id"] for j in page["jobs"]]


async def test_client_disconnect_leaves_the_job_running_and_findable(tiny_server: ServerProcess, tmp_path: Any) -> None:
    """The documented choice: a client that leaves does not cancel; its job completes and stays in /jobs."""
    clip = speech_wav(tmp_path / "long.wav", ["speech.ogg", "speech.mp3", "speech.ogg"])
    headers = {"Authorization": f"Bearer {API_KEY}", "X-Job-Id": "left-early"}
    async with aiohttp.ClientSession(headers=headers) as session:
        _, writer = await asyncio.open_connection("127.0.0.1", tiny_server.port)
        body = _multipart({"model": "whisper-1"}, clip.read_bytes())
        sent = {**headers, "Content-Type": f"multipart/form-data; boundary={B}"}
        writer.write(_raw_request(tiny_server.port, sent, body))
        await writer.drain()
        await _wait_status(session, tiny_server, "left-early", ("queued", "running"))
        writer.close()  # the client goes away before the answer
        await writer.wait_closed()
        status = await _wait_completed(session, tiny_server, "left-early")
        assert "market" in status["text"].lower()
        # The same request again, with the same id, is answered from that job: no second job.
        again = aiohttp.FormData({"model": "whisper-1", "response_format": "text"})
        again.add_field("file", io.BytesIO(clip.read_bytes()), filename="long.wav")
        async with session.post(f"{tiny_server.url}/v1/audio/transcriptions", data=again) as resp:
            assert resp.status == 200 and resp.headers["x-job-id"] == "left-early"
            assert (await resp.text()).strip() == status["text"]


B = "openai-test-boundary"


def _multipart(fields: dict[str, str], audio: bytes) -> bytes:
    parts = [f'--{B}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
    head = f'--{B}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'.encode()
    return b"".join([*parts, head, audio, f"\r\n--{B}--\r\n".encode()])


def _raw_request(port: int, headers: dict[str, str], body: bytes) -> bytes:
    lines = ["POST /v1/audio/transcriptions HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _wait_status(
    session: aiohttp.ClientSession, server: ServerProcess, job_id: str, want: tuple[str, ...]
) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        async with session.get(f"{server.url}/status/{job_id}") as resp:
            body: dict[str, Any] = await resp.json()
        if body.get("status") in want:
            return body
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.05)


async def _wait_completed(session: aiohttp.ClientSession, server: ServerProcess, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        async with session.get(f"{server.url}/status/{job_id}") as resp:
            body: dict[str, Any] = await resp.json()
        if body.get("status") not in (None, "queued", "running"):
            assert body["status"] == "completed", body
            return body
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.2)


@SDK_TRANSLATIONS
def test_translation_with_multilingual_base(base_server: ServerProcess, sdk: MakeSDK) -> None:
    client = sdk(base_server)
    with (CLIPS / "russian.ogg").open("rb") as fh:
        result = client.audio.translations.create(model="whisper-1", file=fh)
    assert not re.search("[а-яА-ЯёЁ]", result.text), result.text
    assert words_of(result.text) & {"weather", "good", "book", "read", "thank", "thanks", "today"}, result.text
    with (CLIPS / "russian.ogg").open("rb") as fh:
        verbose = client.audio.translations.create(model="base", file=fh, response_format="verbose_json")
    assert verbose.to_dict()["task"] == "translate" and verbose.language == "english" and verbose.segments
    with (CLIPS / "russian.ogg").open("rb") as fh:
        russian = client.audio.transcriptions.create(model="base", file=fh, response_format="verbose_json")
    assert russian.language == "russian" and re.search("[а-яА-Я]", russian.text)


def test_diarized_json_names_a_speaker_per_segment(tiny_server: ServerProcess, sdk: MakeSDK) -> None:
    client = sdk(tiny_server)
    with HELLO.open("rb") as fh:
        result = client.audio.transcriptions.create(model="whisper-1", file=fh, response_format="diarized_json")
    body = result.model_dump() if hasattr(result, "model_dump") else dict(result)
    assert body["segments"], body
    assert all(s["type"] == "transcript.text.segment" and s["speaker"] == "S1" for s in body["segments"]), body
    assert {"hello", "welcome"} <= words_of(" ".join(s["text"] for s in body["segments"]))
    assert body["segments"][0]["start"] < body["segments"][-1]["end"] <= body["duration"] + 0.5


def _data_url(path: Path, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


def test_known_speaker_references_name_the_speakers(tiny_server: ServerProcess, sdk: MakeSDK) -> None:
    client = sdk(tiny_server)
    extra = {
        "known_speaker_names": ["Anna", "Boris"],
        "known_speaker_references": [_data_url(HELLO, "audio/wav"), _data_url(CLIPS / "voice_b.ogg", "audio/ogg")],
    }
    with HELLO.open("rb") as fh:
        result = client.audio.transcriptions.create(
            model="whisper-1", file=fh, response_format="diarized_json", extra_body=extra
        )
    body = result.model_dump() if hasattr(result, "model_dump") else dict(result)
    # The speaker is the reference clip's voice (Anna), not the other reader's (Boris).
    assert {s["speaker"] for s in body["segments"]} == {"Anna"}, body
    with HELLO.open("rb") as fh, pytest.raises(openai.BadRequestError) as bad:
        client.audio.transcriptions.create(
            model="whisper-1",
            file=fh,
            response_format="diarized_json",
            extra_body={"known_speaker_names": ["Anna"], "known_speaker_references": ["data:audio/wav;base64,!!"]},
        )
    assert bad.value.body["param"] == "known_speaker_references[]"  # type: ignore[index]
