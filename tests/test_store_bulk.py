"""A read of many jobs is turned into Job objects off the event loop; a single job stays inline.

A /events snapshot reads ~600 jobs: converting them on the loop held it 20-30 ms at a time
(bench/history_scale.py). The spy records which thread made each Job, on both stores.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from tests.store_backends import job
from transcriber.domain.job import Job
from transcriber.store import bulk
from transcriber.store.sqlite import Store


async def test_many_rows_are_converted_in_another_thread(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(bulk.BIG + 10):
        await store.insert_job(job(f"bulk-{i:03d}"))
    threads: list[str] = []
    original = Job.from_row

    def spy(row: dict[str, Any]) -> Job:
        threads.append(threading.current_thread().name)
        return original(row)

    monkeypatch.setattr(Job, "from_row", staticmethod(spy))
    main = threading.main_thread().name
    listed = await store.list_jobs(None, bulk.BIG + 10, None)
    assert len(listed) == bulk.BIG + 10 and {j.job_id for j in listed} == {
        f"bulk-{i:03d}" for i in range(bulk.BIG + 10)
    }
    assert threads and main not in threads

    threads.clear()
    one = await store.get_job("bulk-000")
    assert one is not None and one.job_id == "bulk-000"
    assert threads == [main]  # one row: no thread hop


async def test_a_read_does_not_wait_for_a_transaction_in_progress(store: Store) -> None:
    """Requests read while a commit, a prune batch or the relay's pass holds the writing side."""
    await store.insert_job(job("seen"))
    async with store.transaction() as tx:
        await tx.execute("UPDATE jobs SET progress = 0.5 WHERE job_id = ?", ("seen",))
        found = await asyncio.wait_for(store.get_job("seen"), 5)  # waited forever behind the lock before
        assert found is not None and found.progress == 0.0  # what is committed, not the open transaction
    after = await store.get_job("seen")
    assert after is not None and after.progress == 0.5
