"""The CLI's job following: the event-stream parser, resumption with Last-Event-ID, and the
fallback to polling /status, against small real HTTP servers speaking API.md's shapes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from tests.support import free_port
from transcriber.cli.client import ApiClient, ClientError
from transcriber.cli.sse import Event, EventParser


def test_parser_follows_the_event_stream_rules() -> None:
    parser = EventParser()
    lines = [": keep-alive", "", "id: 7", "event: status", 'data: {"a":', "data: 1}", "", "data:x", "retry: 5", ""]
    events = [e for e in map(parser.feed, lines) if e is not None]
    assert events == [Event("status", '{"a":\n1}', "7"), Event("message", "x", "7")]
    assert parser.last_id == "7"


def status(job_id: str, state: str, progress: float) -> dict[str, Any]:
    return {"job_id": job_id, "status": state, "progress": progress, "error": None}


def sse(event_id: int, body: dict[str, Any]) -> bytes:
    return f"id: {event_id}\nevent: status\ndata: {json.dumps(body)}\n\n".encode()


class Server:
    """A server with a job event stream that drops after two events, then resumes from Last-Event-ID."""

    def __init__(self, with_events: bool):
        self.seen_last_ids: list[str | None] = []
        self.polls = 0
        self.app = web.Application()
        if with_events:
            self.app.router.add_get("/jobs/{job_id}/events", self.events)
        self.app.router.add_get("/status/{job_id}", self.status)

    async def events(self, request: web.Request) -> web.StreamResponse:
        job_id = request.match_info["job_id"]
        if job_id == "gone":
            return web.json_response(
                {"error": {"code": "job_not_found", "message": "No job with id 'gone'."}}, status=404
            )
        last = request.headers.get("Last-Event-ID")
        self.seen_last_ids.append(last)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(b": hello\n\n")
        if last is None:
            await resp.write(sse(1, status(job_id, "queued", 0.0)) + sse(2, status(job_id, "running", 0.4)))
            return resp  # the connection ends before the job does
        await resp.write(sse(3, status(job_id, "running", 0.9)) + sse(4, status(job_id, "completed", 1.0)))
        return resp

    async def status(self, request: web.Request) -> web.Response:
        self.polls += 1
        state = "completed" if self.polls >= 3 else "running"
        return web.json_response(status(request.match_info["job_id"], state, min(1.0, self.polls / 3)))


@pytest.fixture
async def serve() -> AsyncIterator[Any]:
    runners = []

    async def start(server: Server) -> str:
        runner = web.AppRunner(server.app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


async def test_events_resume_after_a_drop_with_last_event_id(serve: Any) -> None:
    server = Server(with_events=True)
    seen: list[tuple[str, float]] = []
    async with ApiClient(await serve(server), None) as api:
        final = await api.follow("j1", lambda s: seen.append((s["status"], s["progress"])))
    assert final["status"] == "completed"
    assert seen == [("queued", 0.0), ("running", 0.4), ("running", 0.9), ("completed", 1.0)]
    assert server.seen_last_ids == [None, "2"]
    assert server.polls == 0


async def test_polling_when_the_server_has_no_event_stream(serve: Any) -> None:
    server = Server(with_events=False)
    seen: list[str] = []
    async with ApiClient(await serve(server), None) as api:
        final = await api.follow("j2", lambda s: seen.append(s["status"]))
    assert final["status"] == "completed" and seen == ["running", "running", "completed"]
    assert server.polls == 3


async def test_an_unknown_job_on_the_event_stream_is_an_error(serve: Any) -> None:
    async with ApiClient(await serve(Server(with_events=True)), None) as api:
        with pytest.raises(ClientError, match="No job with id 'gone'"):
            await api.follow("gone", lambda s: None)
