"""The webhook relay: turns finished jobs and summaries into signed deliveries and sends them.

Everything it needs is in the database (jobs.callback_url, webhook_deliveries), so a restart
resumes where it stopped; sends run as their own tasks, so a slow receiver never delays a worker,
the event loop or another receiver.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from standardwebhooks import Webhook

from transcriber.clock import utcnow
from transcriber.errors import NotFound
from transcriber.events.waiters import wake_or_timeout
from transcriber.notify import signing_secret, urlguard
from transcriber.notify.backoff import PassFailures
from transcriber.notify.delivery import Attempt, post
from transcriber.setting_sections import WebhookSettings
from transcriber.store import webhook_rows
from transcriber.store.sqlite import Store
from transcriber.store.types import Row

log = logging.getLogger(__name__)
StatusDocument = Callable[[str], Awaitable[dict[str, Any]]]
POLL_SECONDS = 1.0
MAX_DELAY_SECONDS = 6 * 3600.0
MAX_IN_FLIGHT = 16
CLAIM_MARGIN_SECONDS = 30.0
# Events committed up to this long before a pass began are looked at again (clock steps, slow commits).
WATERMARK_SLACK = timedelta(seconds=60)


def retry_delay(attempts: int, first: float) -> float:
    """Exponential backoff with jitter: about first * 2^(attempts-1), capped."""
    delay = first * 2.0 ** min(attempts - 1, 30) * random.uniform(0.75, 1.25)  # jitter spreads a burst out
    return min(MAX_DELAY_SECONDS, delay)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class WebhookRelay:
    """One background loop: queue a delivery per reportable event, send the due ones."""

    def __init__(self, settings: WebhookSettings, store: Store, status_document: StatusDocument, data_dir: Path):
        self._settings = settings
        self._store = store
        self._status_document = status_document
        self._data_dir = data_dir
        self._signer: Webhook | None = None
        self._wake = asyncio.Event()
        self._since = ""  # the first pass looks at every job: events missed while we were down
        self._sending: dict[str, asyncio.Task[None]] = {}

    def wake(self, _job_id: str = "") -> None:
        """Look now (a ChangeFeed listener); otherwise the relay looks every POLL_SECONDS."""
        self._wake.set()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The loop as a background task for the life of the block; sends in flight are cancelled
        at the end and stay pending in the table, to be sent again after the restart."""
        task = asyncio.create_task(self.run())
        try:
            yield
        finally:
            tasks = [task, *self._sending.values()]
            for each in tasks:
                each.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def run(self) -> None:
        try:
            self._signer = Webhook(await signing_secret.configured_or_kept(self._settings.secret, self._data_dir))
        except (OSError, ValueError) as exc:  # deliveries wait in the table until this is fixed
            log.error("webhooks are not sent: the signing secret is unusable: %s", exc)
            return
        failures = PassFailures("webhook relay", POLL_SECONDS)
        while True:
            try:
                await self.run_once()
                wait = failures.passed()
            except Exception as exc:  # the relay must outlive a bad pass; the table keeps the work
                wait = failures.failed(exc)
            self._wake.clear()
            await wake_or_timeout(self._wake, wait)

    async def run_once(self) -> None:
        await self._discover()
        await self._start_due()

    async def _discover(self) -> None:
        started = datetime.now(UTC)
        events = await webhook_rows.unreported(self._store, self._since)
        for event in events:
            await self._queue(event)
        if len(events) < webhook_rows.BATCH:  # a full batch may have left some: look again from the same point
            self._since = _iso(started - WATERMARK_SLACK)

    async def _queue(self, event: Row) -> None:
        job_id, event_type = event["job_id"], event["type"]
        try:
            document = await self._status_document(job_id)
        except NotFound:  # deleted in the meantime: nothing to report
            return
        body = {"type": event_type, "timestamp": utcnow(), "data": document}
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        if await webhook_rows.add(self._store, job_id, event_type, event["callback_url"], payload, event["round"]):
            log.info("job %s: webhook %s queued", job_id, event_type, extra={"job_id": job_id})

    async def _start_due(self) -> None:
        room = MAX_IN_FLIGHT - len(self._sending)
        if room <= 0:
            return
        for delivery in await webhook_rows.due(self._store, room + len(self._sending)):
            webhook_id = delivery["webhook_id"]
            if webhook_id not in self._sending and len(self._sending) < MAX_IN_FLIGHT:
                if not await webhook_rows.claim(self._store, webhook_id, delivery["next_attempt_at"], self._hold()):
                    continue  # another server sends this one
                task = asyncio.create_task(self._attempt(delivery))
                self._sending[webhook_id] = task
                task.add_done_callback(functools.partial(self._done, webhook_id))

    def _hold(self) -> str:
        """Until when a claimed delivery is ours: past its deadline, with room to record the outcome."""
        seconds = urlguard.RESOLVE_TIMEOUT + self._settings.timeout_seconds + CLAIM_MARGIN_SECONDS
        return _iso(datetime.now(UTC) + timedelta(seconds=seconds))

    def _done(self, webhook_id: str, _task: asyncio.Task[None]) -> None:
        self._sending.pop(webhook_id, None)
        self._wake.set()  # a slot is free: look for more due deliveries

    async def _attempt(self, delivery: Row) -> None:
        try:
            target = await urlguard.resolve(
                delivery["url"], allow_private=self._settings.allow_private, timeout=urlguard.RESOLVE_TIMEOUT
            )
        except urlguard.UnsafeURL as exc:  # checked at submit; DNS may have changed since
            outcome = Attempt(None, f"refused: {exc}")
        else:
            assert self._signer is not None  # set before the first pass
            outcome = await post(
                target, self._signer, delivery["webhook_id"], delivery["payload"], self._settings.timeout_seconds
            )
        await self._record(delivery, outcome)

    async def _record(self, delivery: Row, outcome: Attempt) -> None:
        job_id, attempts = delivery["job_id"], delivery["attempts"] + 1
        extra = {"job_id": job_id}
        if outcome.acknowledged:
            state, when = "delivered", utcnow()
            log.info("job %s: webhook %s delivered (%s)", job_id, delivery["type"], outcome.status, extra=extra)
        elif attempts >= self._settings.max_attempts:
            state, when = "failed", utcnow()
            log.warning(
                "job %s: webhook %s given up after %d attempts: %s",
                job_id,
                delivery["type"],
                attempts,
                outcome.error,
                extra=extra,
            )
        else:
            delay = retry_delay(attempts, self._settings.retry_seconds)
            state, when = "pending", _iso(datetime.now(UTC) + timedelta(seconds=delay))
            log.info(
                "job %s: webhook %s attempt %d failed (%s); next in %.0f s",
                job_id,
                delivery["type"],
                attempts,
                outcome.error,
                delay,
                extra=extra,
            )
        await webhook_rows.record(
            self._store,
            delivery["webhook_id"],
            state=state,
            status=outcome.status,
            error=outcome.error,
            next_attempt_at=when,
        )
