"""A loopback stand-in for the Hugging Face hub: it serves a pip-shipped model's files in the hub's
layout (/api/models/<repo>/revision/<rev>?blobs=true, HEAD and GET /<repo>/resolve/<rev>/<file>),
in its own thread so that a command-line subprocess can pull from it. It can also hand out a
corrupted model.bin, cut the download off half-way, or send it slowly."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.support import free_port

COMMIT = "0123456789abcdef0123456789abcdef01234567"
LFS = ("model.bin", "tokenizer.json")  # the files the real repositories keep in Git LFS
CHUNK = 1024 * 1024


def git_oid(data: bytes) -> str:
    return hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()


class HubServer:
    """mode: ok | corrupt (model.bin differs from its advertised sha256) | cut | slow."""

    def __init__(self, repo: str, folder: Path, mode: str = "ok"):
        self.repo = repo
        self.files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
        self.mode = mode
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests: list[tuple[str, str, str]] = []  # (method, Host header, path)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._cut = False

    def __enter__(self) -> HubServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get(f"/api/models/{self.repo}/revision/{{rev}}", self._info)
        app.router.add_get(f"/api/models/{self.repo}", self._info)
        app.router.add_get(f"/api/models/{self.repo}/tree/{{rev}}", self._tree)
        app.router.add_route("*", f"/{self.repo}/resolve/{{rev}}/{{name}}", self._file)
        app.middlewares.append(self._record)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.headers.get("Host", ""), request.path))
        response: web.StreamResponse = await handler(request)
        return response

    async def _info(self, request: web.Request) -> web.Response:
        siblings = []
        for name, data in self.files.items():
            sibling: dict[str, Any] = {"rfilename": name, "size": len(data), "blobId": git_oid(data)}
            if name in LFS:
                sibling["lfs"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
            siblings.append(sibling)
        return web.json_response({"id": self.repo, "modelId": self.repo, "sha": COMMIT, "siblings": siblings})

    async def _tree(self, request: web.Request) -> web.Response:
        entries = []
        for name, data in self.files.items():
            entry: dict[str, Any] = {"type": "file", "oid": git_oid(data), "size": len(data), "path": name}
            if name in LFS:
                entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
            entries.append(entry)
        return web.json_response(entries)

    async def _file(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in self.files:
            return web.json_response(
                {"error": "Entry not found"}, status=404, headers={"X-Error-Code": "EntryNotFound"}
            )
        data = self.files[name]
        headers = {"X-Repo-Commit": COMMIT, "Content-Length": str(len(data)), "Accept-Ranges": "bytes"}
        etag = hashlib.sha256(data).hexdigest() if name in LFS else git_oid(data)
        headers |= {"ETag": f'"{etag}"', "X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(len(data))}
        if request.method == "HEAD":
            return web.Response(status=200, headers=headers)
        if name == "model.bin" and self.mode == "corrupt":
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        if name == "model.bin" and self.mode == "cut" and self._cut:
            return web.Response(status=500, text="the hub is down")
        response = web.StreamResponse(status=200, headers=headers)
        await response.prepare(request)
        for start in range(0, len(data), CHUNK):
            if name == "model.bin" and self.mode == "cut" and start >= len(data) // 2:
                self._cut = True
                assert request.transport is not None
                request.transport.close()  # mid-body: the client sees a cut-off download
                return response
            if name == "model.bin" and self.mode == "slow":
                await asyncio.sleep(0.2)
            await response.write(data[start : start + CHUNK])
        await response.write_eof()
        return response
