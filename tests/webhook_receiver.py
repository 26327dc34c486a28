"""A small real webhook receiver for tests: an aiohttp server on a free loopback port that records
what arrives and answers from a script (a status, "hang", or a redirect)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.support import free_port

HANG = "hang"


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class Receiver:
    """Answers each request with the next scripted answer (then `default`)."""

    def __init__(self, *answers: Any, default: Any = 200):
        self.answers: deque[Any] = deque(answers)
        self.default = default
        self.received: list[Received] = []
        self.port = free_port()
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        async with self._arrived:
            self.received.append(
                Received(request.path, {k.lower(): v for k, v in request.headers.items()}, body, time.monotonic())
            )
            self._arrived.notify_all()
        answer = self.answers.popleft() if self.answers else self.default
        if answer == HANG:
            await asyncio.sleep(3600)
        if isinstance(answer, tuple):  # ("redirect", location)
            raise web.HTTPFound(answer[1])
        return web.Response(status=int(answer), text="ok" if int(answer) < 300 else "no")

    async def wait_for(self, count: int, timeout: float = 60) -> list[Received]:
        """At least `count` requests (to any path), waiting with a deadline."""
        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(lambda: len(self.received) >= count), timeout)
        return list(self.received)
