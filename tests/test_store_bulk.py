"""A read of many jobs is turned into Job objects off the event loop; a single job stays inline.

A /events snapshot reads ~600 jobs: converting them on the loop held it 20-30 ms at a time
(bench/history_scale.py). The spy records which thread made each Job, on both stores.
"""

from __future__ import annotations

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
