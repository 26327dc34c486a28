"""The store queries behind isolation, per-key caps and retention, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace

from tests.store_backends import Peek, job
from transcriber.clock import utc_after
from transcriber.domain.job import JobStatus, Outcome
from transcriber.store.sqlite import Store


async def test_owner_queries_and_retention_on_both_backends(store: Store, peek: Peek) -> None:
    for job_id, owner in (("a1", "alice"), ("a2", "alice"), ("b1", "key-0123456789ab"), ("n1", None)):
        await store.insert_job(replace(job(job_id), owner=owner))
    assert await store.count_queued("alice") == 2
    assert [j.job_id for j in await store.list_jobs(None, 10, None, "alice")] == ["a2", "a1"]
    assert {j.job_id for j in await store.list_jobs(None, 10, None)} == {"a1", "a2", "b1", "n1"}
    assert (await store.get_job("b1")).owner == "key-0123456789ab"  # type: ignore[union-attr]
    assert await store.known_jobs(["a1", "a2", "b1", "n1", "zz"]) == {"a1", "a2", "b1", "n1"}
    assert await store.known_uploads(["uploads/a1", "uploads/zz"]) == {"uploads/a1"}
    assert await store.claim_job("a1") is not None
    assert await store.finish_job("a1", Outcome(JobStatus.COMPLETED, text="hi"))
    assert await store.count_queued("alice") == 1
    assert await store.delete_finished_before(utc_after(-60), 10) == []  # finished just now
    old = await store.delete_finished_before(utc_after(60), 10)
    assert old == [{"job_id": "a1", "upload_path": "uploads/a1"}]
    assert await store.get_job("a1") is None
    rows = await peek("SELECT owner FROM jobs WHERE job_id = 'a2'")
    assert rows == [{"owner": "alice"}]
