"""A loopback HTTP server that serves recordings the way the web does: plain files, redirects,
chunked bodies without a length, bodies that never end, slow drips, and errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from tests.support import free_port


class MediaServer:
    """Serves `files` (name -> bytes) at /<name>, and a few misbehaving routes beside them."""

    def __init__(self, files: dict[str, bytes], host: str = "127.0.0.1"):
        self.files = files
        self.host = host
        self.port = free_port()
        self.requests: list[str] = []
        self._runner: web.AppRunner | None = None

    @classmethod
    def of(cls, *paths: Path, host: str = "127.0.0.1") -> MediaServer:
        return cls({path.name: path.read_bytes() for path in paths}, host=host)

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    async def start(self) -> MediaServer:
        app = web.Application()
        app.router.add_get("/files/{name}", self._file)
        app.router.add_get("/chunked/{name}", self._chunked)
        app.router.add_get("/redirect", self._redirect)
        app.router.add_get("/loop", self._loop)
        app.router.add_get("/page/{name}", self._page)
        app.router.add_get("/endless", self._endless)
        app.router.add_get("/drip", self._drip)
        app.router.add_get("/liar", self._liar)
        app.router.add_get("/status/{code}", self._status)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> MediaServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _seen(self, request: web.Request) -> None:
        self.requests.append(request.path_qs)

    async def _file(self, request: web.Request) -> web.Response:
        self._seen(request)
        name = request.match_info["name"]
        if name not in self.files:
            raise web.HTTPNotFound()
        return web.Response(body=self.files[name], content_type="application/octet-stream")

    async def _chunked(self, request: web.Request) -> web.StreamResponse:
        """The file with no Content-Length: only counting the bytes can stop an oversized one."""
        self._seen(request)
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        data = self.files[request.match_info["name"]]
        for start in range(0, len(data), 64 * 1024):
            await resp.write(data[start : start + 64 * 1024])
        await resp.write_eof()
        return resp

    async def _redirect(self, request: web.Request) -> web.Response:
        self._seen(request)
        raise web.HTTPFound(request.query["to"])

    async def _page(self, request: web.Request) -> web.Response:
        """A web page with the file in an <audio> element (what yt-dlp's generic extractor reads)."""
        self._seen(request)
        name = request.match_info["name"]
        src = f' src="/files/{name}"' if name in self.files else ""
        page = f"<html><head><title>Talk</title></head><body><audio controls{src}></audio></body></html>"
        return web.Response(text=page, content_type="text/html")

    async def _loop(self, request: web.Request) -> web.Response:
        self._seen(request)
        raise web.HTTPFound("/loop")

    async def _endless(self, request: web.Request) -> web.StreamResponse:
        self._seen(request)
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        block = b"\0" * (256 * 1024)
        try:
            while True:
                await resp.write(block)
        except (ConnectionError, asyncio.CancelledError):
            pass
        return resp

    async def _drip(self, request: web.Request) -> web.StreamResponse:
        """Headers at once, then a byte now and then: only a read timeout ends it."""
        self._seen(request)
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        try:
            await resp.write(b"R")
            await asyncio.sleep(3600)
        except (ConnectionError, asyncio.CancelledError):
            pass
        return resp

    async def _liar(self, request: web.Request) -> web.StreamResponse:
        """Declares 50 GB: refused before the body is read."""
        self._seen(request)
        resp = web.StreamResponse()
        resp.content_length = 50 * 1024**3
        await resp.prepare(request)
        try:
            await resp.write(b"x")
            await asyncio.sleep(3600)
        except (ConnectionError, asyncio.CancelledError):
            pass
        return resp

    async def _status(self, request: web.Request) -> web.Response:
        self._seen(request)
        return web.Response(status=int(request.match_info["code"]), text="nope")
