"""Prometheus metrics in a registry owned by the app (no global registry)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

WAIT_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200)
PROCESS_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600)
RTF_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 5)


class Metrics:
    """Every metric the service exports; created once per app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.jobs = Counter("transcriber_jobs", "Jobs by outcome.", ["outcome"], registry=r)
        self.queue_wait = Histogram(
            "transcriber_queue_wait_seconds", "Time from acceptance to start.", buckets=WAIT_BUCKETS, registry=r
        )
        self.processing = Histogram(
            "transcriber_processing_seconds", "Transcription time per job.", buckets=PROCESS_BUCKETS, registry=r
        )
        self.audio_seconds = Counter("transcriber_audio_seconds", "Audio seconds transcribed.", registry=r)
        self.rtf = Histogram(
            "transcriber_realtime_factor",
            "Processing seconds per audio second, per job.",
            buckets=RTF_BUCKETS,
            registry=r,
        )
        self.model_load = Gauge("transcriber_model_load_seconds", "Seconds the model took to load.", registry=r)
        self.queue_depth = Gauge("transcriber_queue_depth", "Jobs queued, not yet running.", registry=r)
        self.queue_capacity = Gauge("transcriber_queue_capacity", "Jobs the queue admits.", registry=r)
        self.running = Gauge("transcriber_jobs_running", "Jobs being transcribed now.", registry=r)
        self.summary_backlog = Gauge("transcriber_summary_backlog", "Summaries pending, queued or running.", registry=r)
        self.summaries = Counter("transcriber_summaries", "Summaries by outcome.", ["outcome"], registry=r)
        self.http = Counter(
            "transcriber_http_requests", "HTTP requests by route and status.", ["method", "route", "status"], registry=r
        )
        self.http_latency = Histogram(
            "transcriber_http_request_seconds", "HTTP request latency.", ["route"], registry=r
        )
        for outcome in ("accepted", "completed", "failed", "cancelled"):
            self.jobs.labels(outcome)

    def bind_gauges(
        self, depth: Callable[[], float], running: Callable[[], float], backlog: Callable[[], float]
    ) -> None:
        self.queue_depth.set_function(depth)
        self.running.set_function(running)
        self.summary_backlog.set_function(backlog)

    def render(self) -> bytes:
        return generate_latest(self.registry)


CONTENT_TYPE = CONTENT_TYPE_LATEST
