"""Fuzz against a real `transcriber serve` (tiny.en): mutated real clips on the upload path and
generated requests on every route. No 5xx, a JSON error for every refusal, the server healthy
after each batch, and no byte on disk that no job row refers to.

The default run is bounded (a few seconds per batch); TRANSCRIBER_LONG_FUZZ=1 with `-m fuzz`
runs the long variant. The counts are printed at the end (`pytest -s` shows them)."""

from __future__ import annotations

import http.client
import json
import os
import random
import sqlite3
import struct
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.lying_audio import mp3_with_short_xing, mp4_with_short_stts
from tests.server_process import ServerProcess
from tests.support import CLIPS

KEY = "fuzz-key-0123456789"
LONG = os.environ.get("TRANSCRIBER_LONG_FUZZ") == "1"
UPLOAD_EXAMPLES, ROUTE_EXAMPLES = (1500, 3000) if LONG else (40, 120)
STATS: Counter[str] = Counter()
CLIP_NAMES = sorted(p.name for p in CLIPS.iterdir() if p.suffix != ".json")


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=not LONG,  # the default suite runs the same cases every time
        database=None,
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("fuzz")
    config = root / "config.toml"
    config.write_text(
        "[limits]\nmax_audio_seconds = 120\nmax_upload_mb = 4\nmin_free_disk_mb = 0\n[whisper]\nworkers = 1\n"
    )
    proc = ServerProcess(root / "data", config, TRANSCRIBER_API_KEYS=KEY, TRANSCRIBER_LOG_LEVEL="WARNING")
    proc.start()
    import asyncio

    asyncio.run(proc.wait_ready(timeout=120))
    yield proc
    proc.stop()
    assert "Traceback" not in proc.output(), proc.output()


def request(
    server: ServerProcess, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, bytes, dict[str, str]]:
    with closing(http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)) as conn:
        conn.request(method, path, body=body or None, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read(), dict(resp.getheaders())


def check_answer(status: int, body: bytes, headers: dict[str, str]) -> None:
    STATS["cases"] += 1
    STATS[f"status {status}"] += 1
    if status == 503 and json.loads(body).get("status") in ("degraded", "loading"):
        # /health's own answer: the stall detector flags the one worker while it chews on an
        # accepted fuzz file without a segment for longer than its deadline (under full CPU load)
        STATS["503 from /health: degraded"] += 1
        return
    if status >= 500:
        STATS["5xx"] += 1
    assert status < 500, (status, body[:300])
    if status == 400 and headers.get("Content-Type", "").startswith("text/plain"):
        STATS["400 from aiohttp's HTTP parser (not valid HTTP)"] += 1  # before any handler runs
        return
    if status >= 400:
        error = json.loads(body)["error"]
        assert set(error) == {"code", "message"} and error["code"] and error["message"], body[:300]


def leftover_bytes(data_dir: Path) -> int:
    """Bytes in uploads/ and results/ that no job row refers to."""
    with sqlite3.connect(data_dir / "jobs.db") as db:
        rows = db.execute("SELECT job_id, upload_path FROM jobs").fetchall()
    uploads, ids = {r[1] for r in rows}, {r[0] for r in rows}
    left = sum(
        p.stat().st_size for p in (data_dir / "uploads").rglob("*") if p.is_file() and _rel(p, data_dir) not in uploads
    )
    results = data_dir / "results"
    for folder in results.iterdir() if results.is_dir() else ():
        if folder.name not in ids:
            left += sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    return left


def _rel(path: Path, data_dir: Path) -> str:
    return str(path.relative_to(data_dir))


def after_batch(server: ServerProcess) -> None:
    deadline = time.monotonic() + 600
    while (health := request(server, "GET", "/health", headers={"Authorization": f"Bearer {KEY}"}))[0] != 200:
        assert time.monotonic() < deadline and health[0] == 503, health  # a flagged worker recovers
        time.sleep(1)
    left = leftover_bytes(server.data_dir)
    STATS["bytes left behind"] += left
    assert left == 0


# --- the upload path: mutated real audio ----------------------------------------------------------


def _mutations(tmp: Path) -> dict[str, Callable[[bytes, random.Random], bytes]]:
    lying_mp3 = mp3_with_short_xing(tmp / "x.mp3", copies=3).read_bytes()
    lying_mp4 = mp4_with_short_stts(tmp / "x.mp4").read_bytes()

    def wav_sizes(data: bytes, rnd: random.Random) -> bytes:
        out = bytearray(CLIPS.joinpath("hello.wav").read_bytes())
        out[4:8] = struct.pack("<I", rnd.choice([0, 36, 0xFFFFFFFF, rnd.getrandbits(32)]))
        out[40:44] = struct.pack("<I", rnd.choice([0, 2, 0xFFFFFFFF, rnd.getrandbits(32)]))
        return bytes(out)

    return {
        "intact": lambda d, r: d,
        "truncated": lambda d, r: d[: r.randrange(1, len(d))],
        "bit-flipped": lambda d, r: _flip(d, r, r.randrange(1, 64)),
        "header-corrupted": lambda d, r: bytes(r.getrandbits(8) for _ in range(r.randrange(1, 128))) + d[128:],
        "header-flipped": lambda d, r: _flip(d[:256], r, 8) + d[256:],
        "lying-mp3": lambda d, r: _flip(lying_mp3, r, r.randrange(0, 3)),
        "lying-mp4": lambda d, r: lying_mp4,
        "wav-sizes": wav_sizes,
        "concatenated": lambda d, r: d + CLIPS.joinpath(r.choice(CLIP_NAMES)).read_bytes(),
        "repeated": lambda d, r: d * r.randrange(2, 6),
    }


def _flip(data: bytes, rnd: random.Random, flips: int) -> bytes:
    out = bytearray(data)
    for _ in range(flips):
        at = rnd.randrange(len(out))
        out[at] ^= 1 << rnd.randrange(8)
    return bytes(out)


def multipart(fields: dict[str, str], file: bytes, filename: str) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()
    ]
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n\r\n'
    body = b"".join(parts) + head.encode() + file + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.fixture(scope="module")
def mutations(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Callable[[bytes, random.Random], bytes]]:
    return _mutations(tmp_path_factory.mktemp("lying"))


def test_fuzz_uploads_of_mutated_audio(
    server: ServerProcess, mutations: dict[str, Callable[[bytes, random.Random], bytes]]
) -> None:
    @fuzz_settings(UPLOAD_EXAMPLES)
    @given(
        clip=st.sampled_from(CLIP_NAMES),
        how=st.sampled_from(sorted(mutations)),
        seed=st.integers(0, 2**32 - 1),
        language=st.sampled_from(["", "en", "auto", "xx", "ru"]),
    )
    def upload(clip: str, how: str, seed: int, language: str) -> None:
        data = mutations[how](CLIPS.joinpath(clip).read_bytes(), random.Random(seed))
        fields = {"language": language} if language else {}
        body, ctype = multipart(fields, data, clip)
        headers = {"Content-Type": ctype, "Authorization": f"Bearer {KEY}"}
        status, answer, got = request(server, "POST", "/transcribe", body, headers)
        check_answer(status, answer, got)
        STATS[f"upload {how} -> {status}"] += 1
        if status == 202:  # accepted: keep the CPU for the fuzz, not for transcribing
            job_id = json.loads(answer)["job_id"]
            check_answer(*request(server, "POST", f"/jobs/{job_id}/cancel", headers=headers))
        elif leftover_bytes(server.data_dir):
            STATS["bytes left behind"] += leftover_bytes(server.data_dir)
            raise AssertionError(f"a refused upload ({how} {clip}: {status}) left bytes on disk")

    upload()
    after_batch(server)


# --- every route: generated requests --------------------------------------------------------------

ROUTES = [
    ("POST", "/transcribe"),
    ("GET", "/status/{id}"),
    ("GET", "/jobs"),
    ("POST", "/jobs/{id}/cancel"),
    ("DELETE", "/jobs/{id}"),
    ("POST", "/jobs/{id}/summarize"),
    ("GET", "/jobs/{id}/transcript.{fmt}"),
    ("GET", "/jobs/{id}/audio"),
    ("GET", "/jobs/{id}/events"),  # GET /events never ends: the isolation and SSE tests cover it
    ("GET", "/health"),
    ("GET", "/metrics"),
    ("GET", "/"),
]
ids = st.one_of(st.sampled_from(["a-1", "..", "%2e%2e%2f", "x" * 300, "job:1", ""]), st.text(max_size=40))
junk = st.text(max_size=60)
content_types = st.sampled_from(
    [
        "multipart/form-data; boundary=zz",
        "multipart/form-data",
        "application/json",
        "text/plain",
        "",
        "multipart/mixed; boundary=\x7f",
    ]
)


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, bytes, dict[str, str]]:
    method, template = draw(st.sampled_from(ROUTES))
    method = draw(st.sampled_from([method, method, "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]))
    path = template.replace("{id}", quote(draw(ids), safe="%:")).replace(
        "{fmt}", draw(st.sampled_from(["txt", "json", "exe", ""]))
    )
    query = draw(st.dictionaries(st.sampled_from(["status", "limit", "before", "x"]), junk, max_size=3))
    if query:
        path += "?" + urlencode(query)
    headers = {"Content-Type": draw(content_types)}
    auth = draw(
        st.sampled_from([f"Bearer {KEY}", f"Bearer {KEY}", "", "Bearer wrong", "Basic Zm9vOmJhcg==", f"bearer  {KEY} "])
    )
    if auth:
        headers["Authorization"] = auth
    if draw(st.booleans()):
        headers["Content-Encoding"] = draw(st.sampled_from(["gzip", "deflate", "br", "identity", "x"]))
    body = draw(
        st.one_of(
            st.binary(max_size=2000),
            st.just(b"--zz\r\nContent-Disposition: form-data; name=file\r\n\r\nabc\r\n--zz--\r\n"),
        )
    )
    return method, path, body, {k: v for k, v in headers.items() if v}


def test_fuzz_every_route(server: ServerProcess) -> None:
    @fuzz_settings(ROUTE_EXAMPLES)
    @given(requests())
    def route(req: tuple[str, str, bytes, dict[str, str]]) -> None:
        method, path, body, headers = req
        status, answer, got = request(server, method, path, body, headers)
        plain = path.startswith(("/metrics", "/?")) or path == "/"
        if method == "HEAD" or (plain and status == 200):
            STATS["cases"] += 1
            if method == "HEAD" and path.startswith("/health") and status == 503:
                STATS["503 from /health: degraded"] += 1  # as in check_answer; HEAD has no body
                return
            assert status < 500
            return
        check_answer(status, answer, got)

    route()
    after_batch(server)


@pytest.mark.fuzz
@pytest.mark.skipif(not LONG, reason="the long fuzz runs with TRANSCRIBER_LONG_FUZZ=1")
def test_long_fuzz_marker_is_registered() -> None:
    assert UPLOAD_EXAMPLES >= 1000


def test_fuzz_counts(server: ServerProcess, capsys: pytest.CaptureFixture[str]) -> None:
    """Runs last in this module: the counts for the report, and the totals that must hold."""
    with capsys.disabled():
        print("\nfuzz:", json.dumps(dict(sorted(STATS.items())), indent=1))
    assert STATS["cases"] >= UPLOAD_EXAMPLES // 2 + ROUTE_EXAMPLES // 2
    assert STATS["5xx"] == 0 and STATS["bytes left behind"] == 0


def test_a_wav_whose_header_leaves_no_codec_is_not_audio(tmp_path: Path) -> None:
    """Found by the long fuzz: 8 flipped bits in hello.wav's header left the stream without a
    codec context, and reading its rate raised AttributeError: a 500 with a traceback."""
    from transcriber.speech import audio

    data = CLIPS.joinpath("hello.wav").read_bytes()
    path = tmp_path / "flipped.wav"
    path.write_bytes(_flip(data[:256], random.Random(3564), 8) + data[256:])
    with pytest.raises(audio.NotAudio):
        audio.probe(path, 100)
