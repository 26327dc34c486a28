"""JobQueue: earliest virtual deadline (arrival + duration) first, positions, removal, sentinels."""

from __future__ import annotations

import asyncio
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transcriber.jobs.queue import JobQueue

BLOCKED = 0.05  # seconds a get() must stay pending to count as "nothing to hand out"


async def drain(queue: JobQueue) -> list[str | None]:
    """Everything get() hands out until it would block."""
    out: list[str | None] = []
    while True:
        try:
            out.append(await asyncio.wait_for(queue.get(), BLOCKED))
        except TimeoutError:
            return out


async def test_earliest_virtual_deadline_first() -> None:
    queue = JobQueue()
    queue.put("c", duration=30, arrival=100)  # deadline 130
    queue.put("a", duration=5, arrival=110)  # deadline 115
    queue.put("b", duration=10, arrival=110)  # deadline 120
    assert await drain(queue) == ["a", "b", "c"]


async def test_short_job_overtakes_long_one_that_arrived_just_before() -> None:
    queue = JobQueue()
    queue.put("long", duration=300, arrival=1000)
    queue.put("short", duration=10, arrival=1001)
    assert queue.position("short") == 1
    assert queue.position("long") == 2
    assert await queue.get() == "short"
    assert await queue.get() == "long"


async def test_long_job_is_not_starved_by_a_stream_of_short_ones() -> None:
    queue = JobQueue()
    queue.put("long", duration=300, arrival=0)
    arrivals = {f"short-{t}": float(t) for t in range(0, 1000, 5)}
    for job_id, arrival in arrivals.items():
        queue.put(job_id, duration=10, arrival=arrival)
    order = await drain(queue)
    long_at = order.index("long")
    before, after = order[:long_at], order[long_at + 1 :]
    # only jobs whose deadline (arrival + 10) is before the long job's (300) go first
    assert before and all(arrivals[str(j)] + 10 < 300 for j in before)
    assert all(arrivals[str(j)] + 10 >= 300 for j in after)
    assert all(str(j) in after for j, a in arrivals.items() if a > 300)


async def test_zero_duration_weight_is_first_come_first_served() -> None:
    queue = JobQueue(duration_weight=0.0)
    queue.put("long", duration=3000, arrival=1)
    queue.put("short", duration=1, arrival=2)
    assert await drain(queue) == ["long", "short"]


def test_positions_and_seconds_ahead() -> None:
    queue = JobQueue()
    queue.put("a", duration=100, arrival=0)  # deadline 100
    queue.put("b", duration=20, arrival=10)  # deadline 30
    queue.put("c", duration=50, arrival=20)  # deadline 70
    assert [queue.position(j) for j in "bca"] == [1, 2, 3]
    assert queue.seconds_ahead("b") == 0
    assert queue.seconds_ahead("c") == 20
    assert queue.seconds_ahead("a") == 70
    assert queue.total_seconds() == 170
    assert len(queue) == 3
    assert queue.position("unknown") is None
    assert queue.seconds_ahead("unknown") == 0.0


async def test_positions_move_up_as_jobs_leave() -> None:
    queue = JobQueue()
    for i in range(4):
        queue.put(f"j{i}", duration=10, arrival=i)
    assert await queue.get() == "j0"
    assert queue.position("j0") is None
    assert [queue.position(f"j{i}") for i in (1, 2, 3)] == [1, 2, 3]
    assert queue.seconds_ahead("j3") == 20
    assert queue.remove("j2")
    assert queue.position("j3") == 2
    assert queue.seconds_ahead("j3") == 10


async def test_remove_skips_the_id() -> None:
    queue = JobQueue()
    queue.put("a", duration=1, arrival=0)
    queue.put("b", duration=1, arrival=1)
    queue.put("c", duration=1, arrival=2)
    assert queue.remove("b") is True
    assert queue.remove("b") is False
    assert queue.remove("never-put") is False
    assert "b" not in queue
    assert "a" in queue
    assert len(queue) == 2
    assert queue.total_seconds() == 2
    assert await drain(queue) == ["a", "c"]


async def test_stop_workers_sentinels_come_first() -> None:
    queue = JobQueue()
    queue.put("a", duration=1, arrival=0)
    queue.put("b", duration=1, arrival=1)
    queue.stop_workers(2)
    assert len(queue) == 2  # sentinels are not jobs
    assert await drain(queue) == [None, None, "a", "b"]


async def test_putting_an_existing_id_is_ignored() -> None:
    queue = JobQueue()
    queue.put("a", duration=100, arrival=0)  # deadline 100
    queue.put("b", duration=10, arrival=50)  # deadline 60
    queue.put("a", duration=1, arrival=0)  # would be deadline 1: must not jump ahead
    assert len(queue) == 2
    assert queue.position("a") == 2
    assert queue.total_seconds() == 110
    assert await drain(queue) == ["b", "a"]


async def test_get_waits_for_a_put() -> None:
    queue = JobQueue()
    waiter = asyncio.ensure_future(queue.get())
    done, _ = await asyncio.wait({waiter}, timeout=BLOCKED)
    assert not done
    queue.put("late", duration=1, arrival=0)
    assert await asyncio.wait_for(waiter, timeout=5) == "late"


async def test_equal_deadlines_get_distinct_positions() -> None:
    queue = JobQueue()
    queue.put("first", duration=10, arrival=5)
    queue.put("second", duration=10, arrival=5)  # same deadline: runs after "first"
    assert (queue.position("first"), queue.position("second")) == (1, 2)
    assert queue.seconds_ahead("second") == 10
    assert await drain(queue) == ["first", "second"]


# Small integers give many equal deadlines; floats give everything else.
NUMBER = st.integers(min_value=0, max_value=20) | st.floats(
    min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False
)


@given(st.lists(st.tuples(NUMBER, NUMBER), max_size=40))
def test_get_order_is_sorted_by_deadline_then_insertion(jobs: list[tuple[float, float]]) -> None:
    async def scenario() -> list[str | None]:
        queue = JobQueue()
        for i, (duration, arrival) in enumerate(jobs):
            queue.put(f"job{i}", duration=duration, arrival=arrival)
        return await drain_now(queue)

    order = asyncio.run(scenario())
    by_deadline = sorted(range(len(jobs)), key=lambda i: (jobs[i][1] + jobs[i][0], i))
    assert order == [f"job{i}" for i in by_deadline]


DISTINCT = st.lists(st.floats(min_value=0, max_value=1e4, allow_nan=False), min_size=1, max_size=30, unique=True)


@given(DISTINCT)
def test_position_matches_get_order_for_distinct_deadlines(durations: list[float]) -> None:
    async def scenario() -> None:
        queue = JobQueue()
        ids = [f"job{i}" for i in range(len(durations))]
        for job_id, duration in zip(ids, durations, strict=True):
            queue.put(job_id, duration=duration, arrival=0)
        positions = {job_id: queue.position(job_id) for job_id in ids}
        ahead = {job_id: queue.seconds_ahead(job_id) for job_id in ids}
        order = [str(j) for j in await drain_now(queue)]
        assert [positions[j] for j in order] == list(range(1, len(ids) + 1))
        waited = 0.0
        for job_id in order:
            assert ahead[job_id] == pytest.approx(waited)
            waited += durations[ids.index(job_id)]

    asyncio.run(scenario())


async def drain_now(queue: JobQueue) -> list[str | None]:
    """Like drain(), without waiting: len() says how many real jobs are left."""
    out: list[str | None] = []
    while len(queue):
        out.append(await queue.get())
    return out


OPS = st.lists(
    st.tuples(st.sampled_from(["put", "put", "get", "remove"]), NUMBER, NUMBER, st.integers(0, 400)), max_size=600
)


@given(OPS)
def test_positions_and_seconds_ahead_match_a_walk_of_the_queue_under_churn(
    ops: list[tuple[str, float, float, int]],
) -> None:
    """Puts, gets and removals: every position and sum equals what walking the whole queue gives."""
    asyncio.run(churn(ops))


def test_positions_stay_exact_over_many_buckets() -> None:
    """Thousands of jobs: the maintained order's buckets split and empty many times over."""
    rng = random.Random(26)
    kinds = ["put", "put", "put", "get", "remove"]
    ops = [(rng.choice(kinds), rng.randint(0, 600), rng.randint(0, 5000), rng.randint(0, 9999)) for _ in range(6000)]
    asyncio.run(churn([(op, float(d), float(a), p) for op, d, a, p in ops]))


async def churn(ops: list[tuple[str, float, float, int]]) -> None:
    queue, next_id = JobQueue(), 0
    held: dict[str, tuple[tuple[float, int], float]] = {}
    for op, duration, arrival, pick in ops:
        if op == "put":
            held[f"j{next_id}"] = ((arrival + duration, next_id), duration)
            queue.put(f"j{next_id}", duration=duration, arrival=arrival)
            next_id += 1
        elif op == "get" and held:
            got = await queue.get()
            assert got == min(held, key=lambda j: held[j][0])
            del held[got]
        elif op == "remove" and held:
            gone = sorted(held)[pick % len(held)]
            assert queue.remove(gone)
            del held[gone]
    for job_id, (slot, _) in held.items():
        before = [d for s, d in held.values() if s < slot]
        assert queue.position(job_id) == 1 + len(before)
        assert queue.seconds_ahead(job_id) == pytest.approx(sum(before), rel=1e-9, abs=1e-6)
    assert queue.total_seconds() == pytest.approx(sum(d for _, d in held.values()), rel=1e-9, abs=1e-6)
