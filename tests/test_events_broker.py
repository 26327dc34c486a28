"""The broker on its own: coalescing, bounded queues, the replay ring and ids across processes."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from transcriber.errors import Code, NotFound, Unavailable
from transcriber.events.broker import QUEUE_REFRESH_SECONDS, EventBroker
from transcriber.events.listeners import StreamClosed


class Jobs:
    """A tiny job table the broker renders from, counting renders."""

    def __init__(self) -> None:
        self.bodies: dict[str, dict[str, Any]] = {}
        self.renders = 0

    async def render(self, job_id: str) -> dict[str, Any]:
        self.renders += 1
        await asyncio.sleep(0)
        if job_id not in self.bodies:
            raise NotFound("gone", code=Code.JOB_NOT_FOUND)
        return dict(self.bodies[job_id])

    async def snapshot(self) -> list[dict[str, Any]]:
        return [dict(b) for b in self.bodies.values()]

    def set(self, job_id: str, status: str, progress: float = 0.0) -> None:
        self.bodies[job_id] = {"job_id": job_id, "status": status, "progress": progress, "summary": None}


async def settle(broker: EventBroker) -> None:
    await asyncio.sleep(max(0.05, broker.coalesce * 3))


async def test_a_burst_is_rendered_at_most_twice_and_ends_in_the_latest_state() -> None:
    jobs = Jobs()
    broker = EventBroker(jobs.render, jobs.snapshot, summaries_enabled=False, coalesce=0.05)
    sub, first = await broker.open(None, None)
    assert first == []
    for i in range(50):
        jobs.set("a", "running", i / 100)
        broker.job_changed("a")
    await asyncio.sleep(0.01)  # the leading render has run; its coalescing window is open
    assert jobs.renders == 1
    for i in range(50, 100):
        jobs.set("a", "running", i / 100)
        broker.job_changed("a")
    await settle(broker)
    assert jobs.renders == 2, "the leading render and one trailing render for the whole window"
    last = None
    while (event := await sub.next(0.01)) is not None:
        last = event
    assert last is not None and b'"progress": 0.99' in last.wire


async def test_a_slow_subscriber_is_dropped_not_buffered() -> None:
    jobs = Jobs()
    broker = EventBroker(jobs.render, jobs.snapshot, summaries_enabled=False, coalesce=0.0, queue_size=5)
    sub, _ = await broker.open(None, None)
    for i in range(10):
        jobs.set(f"j{i}", "queued")
        broker.job_changed(f"j{i}")
    await settle(broker)
    with pytest.raises(StreamClosed, match="overflow"):
        while True:
            await sub.next(0.01)
    broker.close_subscription(sub)
    assert broker.listeners == 0


async def test_ring_replay_and_what_happens_when_it_is_too_old() -> None:
    jobs = Jobs()
    broker = EventBroker(jobs.render, jobs.snapshot, summaries_enabled=False, coalesce=0.0, ring_size=3)
    for i in range(5):
        jobs.set(f"j{i}", "queued")
        broker.job_changed(f"j{i}")
        await settle(broker)
    _, missed = await broker.open(None, broker.event_id(3))
    assert [e.seq for e in missed] == [4, 5]
    _, current = await broker.open(None, broker.event_id(1))  # event 2 fell out of the ring
    assert len(current) == 5 and current[-1].wire.startswith(f"id: {broker.event_id(5)}\n".encode())
    assert all(not e.wire.startswith(b"id:") for e in current[:-1]), "only the last one carries an id"
    _, current = await broker.open(None, f"{broker.epoch - 1}-5")  # an earlier process
    assert len(current) == 5


async def test_shutdown_ends_every_stream() -> None:
    jobs = Jobs()
    broker = EventBroker(jobs.render, jobs.snapshot, summaries_enabled=False)
    subs = [(await broker.open(None, None))[0] for _ in range(3)]
    broker.close()
    for sub in subs:
        with pytest.raises(StreamClosed, match="shutdown"):
            await sub.next(1)


async def test_a_burst_of_jobs_leaving_the_queue_refreshes_the_queue_once() -> None:
    """Each job that starts moves every queued job up; the queue is re-rendered once per burst."""
    jobs = Jobs()
    broker = EventBroker(jobs.render, jobs.snapshot, summaries_enabled=False, coalesce=0.0)
    sub, _ = await broker.open(None, None)
    for i in range(60):
        jobs.set(f"j{i}", "queued")
        broker.job_changed(f"j{i}")
    await settle(broker)
    before = jobs.renders
    for i in range(20):  # twenty short jobs start one after another
        jobs.set(f"j{i}", "running")
        broker.job_changed(f"j{i}")
        await asyncio.sleep(0.005)
    await asyncio.sleep(QUEUE_REFRESH_SECONDS + 0.2)
    # 20 renders of the started jobs and one pass over the 40 still queued (a pass per start: ~1000)
    assert 20 + 40 <= jobs.renders - before <= 20 + 40 + 5, jobs.renders - before
    broker.close_subscription(sub)


async def test_a_job_finishing_during_shutdown_renders_nothing() -> None:
    """Workers finish their jobs after the broker closed; the store is closing by then."""
    jobs = Jobs()
    broker = EventBroker(jobs.render, jobs.snapshot, summaries_enabled=False, coalesce=0.0)
    jobs.set("late", "running")
    broker.close()
    jobs.set("late", "completed")
    broker.job_changed("late")
    await settle(broker)
    assert jobs.renders == 0


async def test_a_database_outage_delays_the_event_and_logs_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    """A render that meets an unreachable store (its connections dropped) is tried again shortly;
    the state still reaches the subscriber, and the outage is a WARNING, not an ERROR traceback."""
    jobs = Jobs()
    failures = [Unavailable("The job database is unreachable", code=Code.DATABASE_UNAVAILABLE)] * 2

    async def flaky(job_id: str) -> dict[str, Any]:
        if failures:
            raise failures.pop()
        return await jobs.render(job_id)

    broker = EventBroker(flaky, jobs.snapshot, summaries_enabled=False, coalesce=0.0, retry_seconds=0.02)
    sub, _ = await broker.open(None, None)
    jobs.set("a", "completed", 1.0)
    with caplog.at_level(logging.WARNING):
        broker.job_changed("a")
        event = await sub.next(2.0)
    assert event is not None and b'"status": "completed"' in event.wire
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1, caplog.text
