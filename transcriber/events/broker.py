"""The live-event broker: renders each changed job once, numbers it, keeps a replay ring, fans out.

One broker per process listens to the ChangeFeed. A burst of changes to a job is coalesced into
one render of its /status body, serialised once and shared by every subscriber; idle subscribers
cost nothing but a parked coroutine (no per-listener polling of the database).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable

from transcriber.errors import NotFound, Unavailable
from transcriber.events.listeners import QUEUE_SIZE, Body, Event, Subscription, encode, finished

log = logging.getLogger(__name__)
Render = Callable[[str], Awaitable[Body]]  # the /status body; raises NotFound for a gone job
Snapshot = Callable[[], Awaitable[list[Body]]]  # current bodies of the visible jobs, oldest first
KEEPALIVE_SECONDS = 15.0
COALESCE_SECONDS = 0.1
RING_SIZE = 2000
RETRY_MS = 2000
ENCODE_BATCH = 50  # snapshot events encoded between two turns of the event loop
SEEN_JOBS = 10_000
QUEUE_REFRESH = 100  # queued jobs re-rendered when one leaves the queue (their position moved)
# At most one such refresh per this many seconds: in a burst of short jobs one leaves the queue
# every few milliseconds, and re-rendering the whole queue each time took a third of the event
# loop while 300 uploads were being accepted (bench uploads case, py-spy).
QUEUE_REFRESH_SECONDS = 0.5
# A render that finds the store unreachable (PostgreSQL connections dropped) is tried again this
# often, for up to RETRIES times; a later change to the job renders it anyway.
RETRY_SECONDS = 1.0
RETRIES = 30


class EventBroker:
    """ChangeFeed listener: job_changed(job_id) starts or extends that job's render cycle."""

    def __init__(
        self,
        render: Render,
        snapshot: Snapshot,
        *,
        summaries_enabled: bool,
        keepalive: float = KEEPALIVE_SECONDS,
        coalesce: float = COALESCE_SECONDS,
        ring_size: int = RING_SIZE,
        queue_size: int = QUEUE_SIZE,
        retry_seconds: float = RETRY_SECONDS,
    ):
        self._render = render
        self._snapshot = snapshot
        self.summaries_enabled = summaries_enabled
        self.keepalive = keepalive
        self.coalesce = coalesce
        self.queue_size = queue_size
        self.retry_seconds = retry_seconds
        self._outage = False  # one WARNING per store outage, not one per render
        # Ids are "<process start ms>-<seq>": an id from another process is recognised as such.
        self.epoch = int(time.time() * 1000)
        self.seq = 0
        self._ring: deque[Event] = deque(maxlen=ring_size)
        self._subs: dict[str | None, set[Subscription]] = {}
        self._busy: set[str] = set()  # jobs being rendered or in their coalescing window
        self._dirty: set[str] = set()  # jobs changed again meanwhile
        self._tasks: set[asyncio.Task[None]] = set()
        self._last: OrderedDict[str, tuple[int, str]] = OrderedDict()  # job -> (body hash, status) last sent
        self._queue_refresh: asyncio.TimerHandle | None = None
        self._closed = False  # shutting down: jobs still finishing must not render from a closing store

    @property
    def listeners(self) -> int:
        return sum(len(s) for s in self._subs.values())

    def event_id(self, seq: int) -> str:
        return f"{self.epoch}-{seq}"

    def job_changed(self, job_id: str) -> None:
        """Render now (leading edge) so a short-lived state such as `queued` is seen; changes that
        come while that render runs, or within `coalesce` after it, make one more render."""
        if self._closed:
            return
        if job_id in self._busy:
            self._dirty.add(job_id)
            return
        self._busy.add(job_id)
        task = asyncio.get_running_loop().create_task(self._cycle(job_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _cycle(self, job_id: str) -> None:
        """One job's renders, one at a time, so its events can never be published out of order."""
        retries = 0
        try:
            while True:
                self._dirty.discard(job_id)
                pause = self.coalesce
                try:
                    await self._publish(job_id)
                    self._outage = False
                except Unavailable as exc:  # the state is still to be sent: render it again shortly
                    if not self._outage:
                        log.warning("status events delayed: %s", exc)
                    self._outage = True
                    retries += 1
                    if retries <= RETRIES:
                        self._dirty.add(job_id)
                        pause = max(pause, self.retry_seconds)
                except Exception:  # one failed render must not stop this job's later events
                    log.exception("job %s: could not publish a status event", job_id, extra={"job_id": job_id})
                await asyncio.sleep(pause)
                if job_id not in self._dirty or self._closed:
                    return
        finally:
            self._busy.discard(job_id)

    async def _publish(self, job_id: str) -> None:
        try:
            body = await self._render(job_id)
        except NotFound:
            self._last.pop(job_id, None)
            self._emit(job_id, "deleted", {"job_id": job_id, "deleted": True}, final=True)
            return
        text = json.dumps(body, ensure_ascii=False)  # serialised once: compared, then sent
        digest, status = hash(text), str(body["status"])
        previous = self._last.get(job_id)
        if previous is not None and previous[0] == digest:
            return  # a change that does not show in the body (a repeated summary poll)
        self._last[job_id] = (digest, status)
        self._last.move_to_end(job_id)
        if len(self._last) > SEEN_JOBS:
            self._last.popitem(last=False)
        self._emit(job_id, "status", text, final=finished(body, self.summaries_enabled))
        if previous is not None and previous[1] == "queued" and status != "queued":
            self._queue_moved()

    def _queue_moved(self) -> None:
        """A job left the queue: the jobs behind it moved up, so their bodies changed too."""
        if self._queue_refresh is None:
            loop = asyncio.get_running_loop()
            self._queue_refresh = loop.call_later(QUEUE_REFRESH_SECONDS, self._refresh_queue)

    def _refresh_queue(self) -> None:
        self._queue_refresh = None
        waiting = [j for j, (_, status) in self._last.items() if status == "queued"]
        for job_id in waiting[:QUEUE_REFRESH]:
            self.job_changed(job_id)

    def _emit(self, job_id: str, name: str, data: Body | str, *, final: bool) -> None:
        self.seq += 1
        event = Event(job_id, encode(self.event_id(self.seq), name, data), final, self.seq)
        self._ring.append(event)
        for key in (None, job_id):
            for sub in self._subs.get(key, ()):
                sub.push(event)

    async def open(self, job_id: str | None, last_event_id: str | None) -> tuple[Subscription, list[Event]]:
        """Subscribe, and say what to send first: the missed events, or the current state.

        Subscribing comes before any await, so nothing published meanwhile is lost; at worst a
        state is sent twice. Raises NotFound (before subscribing) for an unknown job.
        """
        if job_id is not None:
            await self._render(job_id)
        sub = Subscription(job_id, self.queue_size)
        self._subs.setdefault(job_id, set()).add(sub)
        try:
            missed = self._missed(job_id, last_event_id)
            if missed is None:
                return sub, await self._current(job_id, self.seq)
            if job_id is not None and not missed:
                return sub, [e for e in await self._current(job_id, self.seq) if e.final]
            return sub, missed
        except BaseException:
            self.close_subscription(sub)
            raise

    def close_subscription(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.job_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.job_id]

    def _missed(self, job_id: str | None, last_event_id: str | None) -> list[Event] | None:
        """Events after last_event_id from the ring; None when they cannot be known exactly."""
        seq = self._parse(last_event_id)
        if seq is None or seq > self.seq:
            return None
        if self._ring and seq < self._ring[0].seq - 1:
            return None  # older than the ring: some events are gone
        if not self._ring and seq < self.seq:
            return None
        return [e for e in self._ring if e.seq > seq and job_id in (None, e.job_id)]

    def _parse(self, last_event_id: str | None) -> int | None:
        epoch, _, seq = (last_event_id or "").strip().partition("-")
        if epoch != str(self.epoch) or not seq.isdigit():
            return None  # none given, malformed, or from an earlier process
        return int(seq)

    async def _current(self, job_id: str | None, seq: int) -> list[Event]:
        """The current state as events; only the last one carries an id (seq: what it covers)."""
        bodies = [await self._render(job_id)] if job_id is not None else await self._snapshot()
        events = []
        for i, body in enumerate(bodies):
            if i and not i % ENCODE_BATCH:
                await asyncio.sleep(0)  # other requests between batches: a snapshot is ~500 events
            event_id = self.event_id(seq) if i == len(bodies) - 1 else None
            final = finished(body, self.summaries_enabled)
            events.append(Event(str(body["job_id"]), encode(event_id, "status", body), final, seq))
        return events

    def close(self) -> None:
        """Shutdown: end every stream so the server does not wait for them."""
        self._closed = True
        if self._queue_refresh is not None:
            self._queue_refresh.cancel()
        for task in self._tasks:
            task.cancel()
        for subs in self._subs.values():
            for sub in subs:
                sub.close("shutdown")
