"""GET /v1/realtime?intent=transcription: OpenAI's Realtime transcription protocol over a WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from transcriber.jobs.live_lane import LiveLane, SessionRefused
from transcriber.jobs.live_save import LiveRecorder, SaveDeps
from transcriber.jobs.live_session import Limits, LiveSession, Overloaded, SessionConfig
from transcriber.setting_sections import LiveSettings
from transcriber.speech.live import LiveDecoder
from transcriber.web import keys
from transcriber.web.middlewares import caller_of
from transcriber.web.realtime_protocol import (
    AUDIO_EVENTS,
    BETA_UPDATE,
    ProtocolError,
    audio_bytes,
    error_event,
    event_id,
    parse_event,
    session_config,
    session_object,
)

log = logging.getLogger(__name__)
PATH = "/v1/realtime"
SUBPROTOCOL = "realtime"
OUTBOX = 256  # server events a client may leave unread; past that it is cut off
MAX_MESSAGE = 4 * 1024 * 1024  # one event (OpenAI's own limit is 15 MiB of base64 audio per append)


class SlowReader(Exception):
    """The client leaves the server's events unread."""


class Connection:
    """One socket's outgoing side: a bounded queue of events and the task that writes them."""

    def __init__(self, ws: web.WebSocketResponse):
        self._ws = ws
        self._queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(OUTBOX)
        self.task = asyncio.create_task(self._write())
        self.cut_off = False

    def emit(self, event: dict[str, Any]) -> None:
        if self.cut_off:
            return
        try:
            self._queue.put_nowait({"event_id": event_id(), **event})
        except asyncio.QueueFull:
            self.cut_off = True
            raise SlowReader from None

    async def _write(self) -> None:
        while (event := await self._queue.get()) is not None:
            await self._ws.send_json(event)

    async def finish(self, timeout: float = 5.0) -> None:
        """Send what is queued (unless cut off), then stop writing."""
        if self.cut_off:
            self.task.cancel()
        else:
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(None)
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(self.task, timeout)


def _subprotocol(request: web.Request) -> tuple[str, ...]:
    """Echo 'realtime' if offered, else the first protocol offered (never the one carrying the key)."""
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
    safe = [p for p in offered if not p.startswith("openai-insecure-api-key.")]
    if SUBPROTOCOL in safe:
        return (SUBPROTOCOL,)
    return tuple(safe[:1])


async def realtime(request: web.Request) -> web.StreamResponse:
    intent = request.query.get("intent", "transcription")
    if intent != "transcription":
        raise web.HTTPBadRequest(text="Only intent=transcription is served here.")
    ws = web.WebSocketResponse(protocols=_subprotocol(request), max_msg_size=MAX_MESSAGE, heartbeat=30.0)
    await ws.prepare(request)
    out = Connection(ws)
    caller = caller_of(request)
    try:
        with request.app[keys.LIVE].session(caller.key_id if caller else None):
            await _serve(request, ws, out)
    except SessionRefused as exc:
        out.emit(error_event(exc.code, str(exc)))
    except SlowReader:
        log.info("live session: cut off, the client does not read its events")
    finally:
        await out.finish()
        await _close(request, ws, out.cut_off)
    return ws


async def _close(request: web.Request, ws: web.WebSocketResponse, cut_off: bool) -> None:
    """A client that reads nothing will not answer a close frame either: its connection is dropped."""
    if not cut_off:
        await ws.close()
        return
    with contextlib.suppress(TimeoutError, ConnectionError):
        await asyncio.wait_for(ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"events left unread"), 1.0)
    if request.transport is not None:
        request.transport.abort()


async def _serve(request: web.Request, ws: web.WebSocketResponse, out: Connection) -> None:
    app = request.app
    lane, info = app[keys.LIVE], app[keys.LOADER].info()
    if info is None:
        out.emit(error_event("model_loading", "The model is still loading; try again shortly."))
        return
    live = lane.settings
    session_id = "sess_" + uuid.uuid4().hex[:24]
    decoder = LiveDecoder(await lane.model(info), None, live.beam_size)
    limits = Limits(live.max_turn_seconds, live.max_backlog_seconds, live.partial_interval, live.first_partial_seconds)
    session = LiveSession(decoder, lane.run, out.emit, limits, SessionConfig())
    out.emit({"type": "session.created", "session": session_object(session_id, session.config)})
    decoding = asyncio.create_task(session.run())
    recorder = _recorder(app, request) if live.keep else None
    configured = False
    try:
        configured = await _read(ws, out, session, (session_id, live), recorder)
    finally:
        session.close_open_turn()
        session.end()
        # aiohttp cancels the handler once the client has gone: what it said last is still
        # transcribed and the session saved, in a task of the lane's that the cancel does not reach.
        ending = lane.spawn(_end(session, decoding, out, recorder, info.name if configured else ""))
        await asyncio.shield(ending)


async def _end(
    session: LiveSession, decoding: asyncio.Task[None], out: Connection, recorder: LiveRecorder | None, model: str
) -> None:
    await _drain(decoding, out)
    if recorder is None:
        return
    try:
        await recorder.finish(session, model, saved=bool(model))
    except Exception:  # the client has gone; the audio it sent is still in uploads/.incoming until the sweep
        log.exception("live session: saving it as a job failed")


def _recorder(app: web.Application, request: web.Request) -> LiveRecorder:
    summaries = app[keys.SUMMARIES]
    hooks = [summaries] if summaries.enabled else []
    deps = SaveDeps(app[keys.STORE], app[keys.SETTINGS].data_dir, app[keys.CHANGES], hooks)
    caller = caller_of(request)
    return LiveRecorder(deps, caller.key_id if caller else None)


async def _drain(decoding: asyncio.Task[None], out: Connection) -> None:
    try:
        await decoding
    except SlowReader:
        out.cut_off = True
    except Exception:
        log.exception("live session: decoding failed")
        out.emit(error_event("transcription_failed", "Transcribing the audio failed on the server."))


async def _read(
    ws: web.WebSocketResponse,
    out: Connection,
    session: LiveSession,
    ids: tuple[str, LiveSettings],
    recorder: LiveRecorder | None,
) -> bool:
    """Client events until the socket closes or a limit ends the session; True if it was ever configured."""
    session_id, live = ids
    configured = False
    deadline = session.started + live.max_session_seconds
    idle = live.idle_timeout
    while not out.cut_off:
        left = deadline - time.monotonic()
        try:
            msg = await ws.receive(timeout=max(0.0, min(idle, left)))
        except TimeoutError:
            expired = time.monotonic() >= deadline
            if not expired and session.busy:
                continue  # the client waits for text still being decoded: not idle
            code = "session_expired" if expired else "idle_timeout"
            message = "The session reached its maximum length." if expired else f"No event for {idle:.0f} s."
            out.emit(error_event(code, message))
            return configured
        if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            return configured
        await asyncio.sleep(0)  # the writer runs between two events: only a client that does not read fills the outbox
        try:
            configured = _handle(msg.data, out, session, session_id, configured) or configured
            if recorder is not None:
                await recorder.take(session)
        except ProtocolError as exc:
            out.emit(error_event(exc.code, exc.message, exc.param, exc.event_id))
        except Overloaded as exc:
            out.emit(error_event("input_audio_buffer_overflow", str(exc)))
            session.abandon()
            return configured
    return configured


def _handle(data: Any, out: Connection, session: LiveSession, session_id: str, configured: bool) -> bool:
    """One client event; True once the session has been configured."""
    event = parse_event(data)
    kind = event["type"]
    if kind not in AUDIO_EVENTS:
        session.configure(session_config(event, session.config))
        updated = {"session": session_object(session_id, session.config)}
        out.emit({"type": "session.updated", **updated})
        if kind == BETA_UPDATE:
            out.emit({"type": "transcription_session.updated", **updated})
        return True
    if not configured:
        message = "Send session.update (or transcription_session.update) before any audio."
        raise ProtocolError("session_not_configured", message, None, event.get("event_id"))
    if kind == "input_audio_buffer.append":
        session.append(audio_bytes(event))
    elif kind == "input_audio_buffer.commit":
        if not session.commit():
            raise ProtocolError("input_audio_buffer_commit_empty", "There is less than 100 ms of audio to commit.")
    else:
        session.clear()
        out.emit({"type": "input_audio_buffer.cleared"})
    return False


def setup(app: web.Application) -> None:
    """The route, and the lane its sessions share (closed with the app)."""
    app[keys.LIVE] = LiveLane(app[keys.SETTINGS].live)

    async def drain(app: web.Application) -> None:  # on shutdown: the database is still open
        await app[keys.LIVE].drain(app[keys.SETTINGS].server.shutdown_timeout)

    async def close(app: web.Application) -> None:
        app[keys.LIVE].close()

    app.on_shutdown.append(drain)
    app.on_cleanup.append(close)
    app.router.add_get(PATH, realtime)
