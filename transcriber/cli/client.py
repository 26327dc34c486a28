"""HTTP client of the job API for the CLI: upload with byte progress, follow a job, fetch results.

A job is followed through its event stream (GET /jobs/{id}/events) when the server has one, and by
polling /status otherwise, so the CLI works against older servers too.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp

from transcriber.cli.sse import EventParser

TERMINAL = ("completed", "failed", "cancelled")
CHUNK = 256 * 1024
POLL_SECONDS = 0.5
STREAM_READ_TIMEOUT = 60.0  # the server sends a keep-alive at least every 15 s
STREAM_TRIES = 3
StatusCallback = Callable[[dict[str, Any]], None]


class ClientError(Exception):
    """A request that did not work; the message is the server's (or says why there was none)."""


class ApiClient:
    """One session to one server; use as `async with ApiClient(url, key) as api:`."""

    def __init__(self, base_url: str, api_key: str | None):
        self.base_url = base_url.rstrip("/")
        if not self.base_url.startswith(("http://", "https://")):
            raise ClientError(f"the server URL {base_url!r} must start with http:// or https://")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._session = aiohttp.ClientSession(
            headers=headers, timeout=aiohttp.ClientTimeout(sock_connect=10, sock_read=300)
        )

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._session.close()

    async def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """A JSON request; ClientError with the server's message on any non-2xx."""
        try:
            async with self._session.request(method, self.base_url + path, **kwargs) as resp:
                return await _json(resp)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._broken(exc) from None

    async def submit(self, path: Path, fields: dict[str, str], on_bytes: Callable[[int], None]) -> dict[str, Any]:
        """Upload a file (streamed from disk); on_bytes(total sent so far) as it goes."""
        # The client picks the id, so a retried upload is recognised as the same job.
        fields = {"job_id": uuid.uuid4().hex, **fields}
        form = aiohttp.FormData()
        for key, value in fields.items():
            form.add_field(key, value)
        form.add_field("file", _chunks(path, on_bytes), filename=path.name, content_type="application/octet-stream")
        return await self.request("POST", "/transcribe", data=form, headers={"X-Job-Id": fields["job_id"]})

    async def submit_url(self, url: str, fields: dict[str, str]) -> dict[str, Any]:
        """Have the server fetch the recording at url (the `url` field instead of a file)."""
        fields = {"job_id": uuid.uuid4().hex, **fields}
        form = aiohttp.FormData(default_to_multipart=True)
        for key, value in {**fields, "url": url}.items():
            form.add_field(key, value)
        return await self.request("POST", "/transcribe", data=form, headers={"X-Job-Id": fields["job_id"]})

    async def result(self, job_id: str, fmt: str) -> bytes:
        try:
            async with self._session.get(f"{self.base_url}/jobs/{job_id}/transcript.{fmt}") as resp:
                if resp.status != 200:
                    await _json(resp)
                return await resp.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._broken(exc) from None

    def _broken(self, exc: BaseException) -> ClientError:
        if isinstance(exc, aiohttp.ClientConnectorError):
            return ClientError(f"cannot reach the server at {self.base_url} ({_why(exc)})")
        if isinstance(exc, TimeoutError):
            return ClientError(f"the server at {self.base_url} stopped answering")
        return ClientError(f"the connection to the server at {self.base_url} failed ({_why(exc)})")

    async def follow(self, job_id: str, on_status: StatusCallback) -> dict[str, Any]:
        """Report each status until the job ends; its last status body."""
        last_id: str | None = None
        for _ in range(STREAM_TRIES):
            try:
                final, last_id, supported = await self._stream(job_id, on_status, last_id)
            except (aiohttp.ClientError, TimeoutError):
                continue  # dropped: resume from the last event id
            if final is not None:
                return final
            if not supported:
                break
        return await self._poll(job_id, on_status)

    async def _stream(
        self, job_id: str, on_status: StatusCallback, last_id: str | None
    ) -> tuple[dict[str, Any] | None, str | None, bool]:
        """(final status or None, last event id, whether the server has event streams)."""
        headers = {"Accept": "text/event-stream", **({"Last-Event-ID": last_id} if last_id else {})}
        timeout = aiohttp.ClientTimeout(sock_connect=10, sock_read=STREAM_READ_TIMEOUT)
        url = f"{self.base_url}/jobs/{job_id}/events"
        async with self._session.get(url, headers=headers, timeout=timeout) as resp:
            if resp.status in (404, 405) and (await _error_code(resp)) != "job_not_found":
                return None, last_id, False  # an older server: no event stream
            if resp.status != 200 or resp.content_type != "text/event-stream":
                await _json(resp)
                return None, last_id, False
            parser = EventParser(last_id)
            async for status in _statuses(resp, parser):
                on_status(status)
                if status.get("status") in TERMINAL:
                    return status, parser.last_id, True
            return None, parser.last_id, True

    async def _poll(self, job_id: str, on_status: StatusCallback) -> dict[str, Any]:
        while True:
            status = await self.request("GET", f"/status/{job_id}")
            on_status(status)
            if status["status"] in TERMINAL:
                return status
            await asyncio.sleep(POLL_SECONDS)


async def _statuses(resp: aiohttp.ClientResponse, parser: EventParser) -> AsyncIterator[dict[str, Any]]:
    async for raw in resp.content:
        event = parser.feed(raw.decode("utf-8", "replace").rstrip("\r\n"))
        if event is not None and event.type == "status":
            body = json.loads(event.data)
            if isinstance(body, dict):
                yield body


async def _chunks(path: Path, on_bytes: Callable[[int], None]) -> AsyncIterator[bytes]:
    sent = 0
    with path.open("rb") as fh:
        while chunk := await asyncio.to_thread(fh.read, CHUNK):
            yield chunk
            sent += len(chunk)
            on_bytes(sent)


async def _json(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    try:
        body = await resp.json(content_type=None)
    except (ValueError, aiohttp.ContentTypeError):
        body = None
    if resp.status >= 400 or not isinstance(body, dict):
        raise ClientError(_message(resp.status, resp.reason, body))
    return body


async def _error_code(resp: aiohttp.ClientResponse) -> str:
    try:
        body = await resp.json(content_type=None)
        return str(body["error"]["code"])
    except (ValueError, KeyError, TypeError, aiohttp.ContentTypeError):
        return ""


def _message(status: int, reason: str | None, body: Any) -> str:
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return f"{error['message']} (HTTP {status}, {error.get('code', 'error')})"
    return f"the server answered HTTP {status} {reason or ''}".strip()


def _why(exc: BaseException) -> str:
    return str(getattr(exc, "os_error", None) or exc) or type(exc).__name__
