"""Getting recordings in: a tus upload interrupted three times, and a URL fetch, against one plain upload."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.client
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench.cases_uploads import _pcm_block, _raw_upload, _wait_listening, _wav_header
from bench.context import Context
from bench.procs import MIB
from bench.report import Figure, median, spread
from bench.server import REPO, ServerConfig, free_port

CUTS = 3  # connections dropped mid-PATCH, at 1/4, 2/4 and 3/4 of the file
SEND = MIB


@dataclass
class Samples:
    seconds: list[float] = field(default_factory=list)
    rss_growth: list[float] = field(default_factory=list)


async def ingest(ctx: Context) -> None:
    """Per repeat, the same file three ways (rotating which goes first), each to a fresh server."""
    size = 16 * MIB if ctx.quick else 256 * MIB
    block = _pcm_block(ctx)
    payload = ctx.work_dir / "ingest" / "big.wav"
    await asyncio.to_thread(_write_payload, payload, size, block)
    sides = {"plain": Samples(), "tus": Samples(), "url": Samples()}
    with _file_server(payload.parent) as files_port:
        for repeat in range(ctx.repeats):
            for name in list(sides)[repeat % 3 :] + list(sides)[: repeat % 3]:
                # A fresh server each time, killed after the answer: the job's transcription never
                # overlaps the next transfer's time or memory.
                srv = ctx.server(ServerConfig("tiny.en", env={"TRANSCRIBER_ALLOW_PRIVATE_URLS": "true"}))
                async with srv:
                    assert srv.monitor is not None
                    srv.monitor.reset()
                    before = srv.monitor.current()
                    seconds = await asyncio.to_thread(_send, name, srv.port, files_port, payload, size, block)
                    sides[name].seconds.append(seconds)
                    sides[name].rss_growth.append(srv.monitor.peak() - before)
                await asyncio.to_thread(shutil.rmtree, srv.dir, ignore_errors=True)
    _report(ctx, size, sides)


def _send(name: str, port: int, files_port: int, payload: Path, size: int, block: bytes) -> float:
    """Seconds from the first byte to the answer that names the job."""
    if name == "plain":
        seconds, status, body = _raw_upload(port, "/transcribe", size, block)
        if status != 202:
            raise RuntimeError(f"plain upload answered {status}: {body[:300]!r}")
        return seconds
    if name == "tus":
        return _tus_interrupted(port, payload, size)
    return _url_fetch(port, f"http://127.0.0.1:{files_port}/{payload.name}")


def _tus_interrupted(port: int, payload: Path, size: int) -> float:
    """Create, then PATCH the rest from the server's offset; the first CUTS connections are cut
    part-way (the client closes its socket mid-body), as a lost connection would."""
    data = payload.read_bytes()
    started = time.perf_counter()
    name = base64.b64encode(b"big.wav").decode()
    status, headers = _call(
        port, "POST", "/uploads/", {"Upload-Length": str(size), "Upload-Metadata": f"filename {name}"}
    )
    if status != 201:
        raise RuntimeError(f"tus creation answered {status}")
    location = headers["location"]
    stops = [size * (i + 1) // (CUTS + 1) for i in range(CUTS)] + [size]
    for _ in range(400):
        # A HEAD right after a dropped PATCH may see the offset before the server has settled it:
        # then the PATCH is refused (409, or 423 while it settles) and the client asks again.
        offset = int(_call(port, "HEAD", location, {})[1]["upload-offset"])
        stop = next(s for s in stops if s > offset)
        answer = _patch(port, location, data, offset, stop)
        if answer is None:
            stops.remove(stop)  # that connection was dropped as planned
        elif answer[0] == 204 and "x-job-id" in answer[1]:
            return time.perf_counter() - started
        elif answer[0] not in (409, 423):
            raise RuntimeError(f"a PATCH answered {answer[0]}")
        else:
            time.sleep(0.02)
    raise RuntimeError("the tus upload did not finish")


def _patch(port: int, location: str, data: bytes, offset: int, stop: int) -> tuple[int, dict[str, str]] | None:
    """PATCH data[offset:] but send only up to `stop`; below the end the connection is dropped."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.putrequest("PATCH", location)
    for key, value in {"Tus-Resumable": "1.0.0", "Upload-Offset": str(offset),
                       "Content-Type": "application/offset+octet-stream",
                       "Content-Length": str(len(data) - offset)}.items():  # fmt: skip
        conn.putheader(key, value)
    conn.endheaders()
    view = memoryview(data)
    try:
        for start in range(offset, stop, SEND):
            conn.send(view[start : min(stop, start + SEND)])
        if stop < len(data):
            return None  # the `finally` drops the connection mid-body
        resp = conn.getresponse()
        resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}
    except (BrokenPipeError, ConnectionResetError):
        return 409, {}  # refused before the whole body went: ask for the offset again
    finally:
        conn.close()


def _url_fetch(port: int, url: str) -> float:
    boundary = "benchboundary"
    body = f'--{boundary}\r\nContent-Disposition: form-data; name="url"\r\n\r\n{url}\r\n--{boundary}--\r\n'.encode()
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request("POST", "/transcribe", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    resp = conn.getresponse()
    answer = resp.read()
    conn.close()
    if resp.status != 202:
        raise RuntimeError(f"url fetch answered {resp.status}: {answer[:300]!r}")
    return time.perf_counter() - started


def _call(port: int, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request(method, path, headers={"Tus-Resumable": "1.0.0", **headers})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}


def _write_payload(path: Path, size: int, block: bytes) -> None:
    """The same bytes the plain upload sends: a WAV header, then the PCM block repeated."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        out.write(_wav_header(size - 44))
        left = size - 44
        while left > 0:
            out.write(block[: min(left, len(block))])
            left -= len(block)


@contextlib.contextmanager
def _file_server(folder: Path) -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.file_server", str(port), str(folder)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        _wait_listening(port, proc)
        yield port
    finally:
        proc.kill()
        proc.wait(10)


def _report(ctx: Context, size: int, sides: dict[str, Samples]) -> None:
    plain, tus, url = (sides[k] for k in ("plain", "tus", "url"))
    label = f"{size // MIB} MiB"
    tus_ratio = [t / p for t, p in zip(tus.seconds, plain.seconds, strict=True)]
    url_ratio = [p / u for u, p in zip(url.seconds, plain.seconds, strict=True)]
    rate = {k: size / median(s.seconds) / 1e6 for k, s in sides.items()}
    ctx.add(
        Figure(
            22, f"{label} tus upload cut {CUTS} times: time to X-Job-Id / one plain upload's 202",
            median(tus_ratio), "x", "report", None,
            f"per repeat {spread(tus_ratio, 2)}; tus {median(tus.seconds):.2f} s ({rate['tus']:.0f} MB/s, "
            f"creation + {CUTS + 1} HEAD/PATCH rounds), plain {median(plain.seconds):.2f} s ({rate['plain']:.0f} MB/s)",
            {"bytes": size, "tus_seconds": tus.seconds, "plain_seconds": plain.seconds},
        ),
        Figure(
            22, f"server RSS growth during the {label} tus upload cut {CUTS} times (worst repeat)",
            max(tus.rss_growth), "MiB", "report", None,
            f"tus {', '.join(f'{g:.0f}' for g in tus.rss_growth)} MiB; plain upload "
            f"{', '.join(f'{g:.0f}' for g in plain.rss_growth)} MiB; URL fetch "
            f"{', '.join(f'{g:.0f}' for g in url.rss_growth)} MiB",
            {"tus_mib": tus.rss_growth, "plain_mib": plain.rss_growth, "url_mib": url.rss_growth},
        ),
        Figure(
            22, f"{label} `url` fetch from a loopback server: speed / the plain upload's",
            median(url_ratio), "x", "report", None,
            f"per repeat {spread(url_ratio, 2)}; fetch {rate['url']:.0f} MB/s ({median(url.seconds):.2f} s to the "
            f"202), plain upload {rate['plain']:.0f} MB/s; both hash, fsync and probe before answering",
            {"url_seconds": url.seconds},
        ),
    )  # fmt: skip
