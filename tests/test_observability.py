"""Metrics and logs after real jobs: Prometheus counters move, JSON log lines carry the job id."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import MakeClient
from tests.support import CLIPS, Client, form, submit, wait_status
from transcriber.logs import configure_logging
from transcriber.speech.engine import FasterWhisperEngine


async def scrape(
    client: Client,
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    resp = await client.get("/metrics")
    assert resp.status == 200 and resp.content_type == "text/plain"
    samples = {}
    for family in text_string_to_metric_families(await resp.text()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_move_with_real_jobs(client: Client) -> None:
    before = await scrape(client)
    for name in ("hello.wav", "speech.ogg"):
        await wait_status(client, (await submit(client, CLIPS / name))["job_id"])
    bad = await client.post("/transcribe", data=form(data=b"not audio at all" * 100, filename="x.wav"))
    assert bad.status == 415
    after = await scrape(client)
    assert (
        value(after, "transcriber_jobs_total", outcome="accepted")
        - value(before, "transcriber_jobs_total", outcome="accepted")
        == 2
    )
    assert (
        value(after, "transcriber_jobs_total", outcome="completed")
        - value(before, "transcriber_jobs_total", outcome="completed")
        == 2
    )
    assert (
        value(after, "transcriber_processing_seconds_count")
        == value(before, "transcriber_processing_seconds_count") + 2
    )
    assert (
        value(after, "transcriber_queue_wait_seconds_count")
        == value(before, "transcriber_queue_wait_seconds_count") + 2
    )
    assert value(after, "transcriber_audio_seconds_total") > value(before, "transcriber_audio_seconds_total") + 10
    assert value(after, "transcriber_realtime_factor_count") == 2
    assert value(after, "transcriber_model_load_seconds") > 0
    assert value(after, "transcriber_queue_capacity") == 1000
    assert value(after, "transcriber_queue_depth") == 0
    assert value(after, "transcriber_http_requests_total", method="POST", route="/transcribe", status="415") == 1
    assert value(after, "transcriber_http_requests_total", method="POST", route="/transcribe", status="202") == 2
    assert value(after, "transcriber_http_requests_total", method="GET", route="/status/{job_id}", status="200") >= 2


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream, secrets=["s3cret-key"])
    yield stream
    configure_logging("WARNING", "text")
    logging.getLogger().handlers.clear()


async def test_json_log_lines_carry_job_id_and_no_content(
    make_client: MakeClient, tiny_engine: FasterWhisperEngine, json_logs: io.StringIO
) -> None:
    client = await make_client(tiny_engine, server={"api_keys": ["s3cret-key"]})
    auth = {"Authorization": "Bearer s3cret-key"}
    resp = await client.post("/transcribe", data=form(CLIPS / "speech.ogg", job_id="logged-1"), headers=auth)
    assert resp.status == 202
    done = await wait_status(client, "logged-1", headers=auth)
    assert done["status"] == "completed"
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines() if line.strip()]
    job_lines = [line for line in lines if "logged-1" in line["message"] and line["logger"].startswith("transcriber")]
    assert {"accepted", "started", "completed"} <= {word for line in job_lines for word in line["message"].split()}
    assert all(line["job_id"] == "logged-1" for line in job_lines)
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    text = json_logs.getvalue()
    assert "s3cret-key" not in text
    assert done["text"][:40] not in text  # the words people said stay out of the logs
