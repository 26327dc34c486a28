"""Scheduling: admission, the queue, the worker pool, cancellation, recovery and shutdown.

Each worker's loop, taking and running one job at a time, is scheduler_workers.py's."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Sequence
from typing import Any

from transcriber.clock import epoch
from transcriber.domain.job import Job, JobStatus
from transcriber.errors import Code, Unavailable
from transcriber.events.changes import ChangeFeed
from transcriber.jobs.claims import make_source
from transcriber.jobs.estimates import Estimator
from transcriber.jobs.outage import DiskOutage
from transcriber.jobs.putback import PutBack
from transcriber.jobs.queue import JobQueue
from transcriber.jobs.reservation import Reservation
from transcriber.jobs.runner import JobRunner, RunnerDeps, RunningJob, cue_layout
from transcriber.jobs.scheduler_events import SourceEventsMixin
from transcriber.jobs.scheduler_views import LiveJob, SchedulerSnapshot
from transcriber.jobs.scheduler_workers import WorkerLoopMixin
from transcriber.jobs.watchdog import ThreadSlots
from transcriber.jobs.width import WidthGate
from transcriber.metrics import Metrics
from transcriber.settings import Settings
from transcriber.speech.engine import Engine
from transcriber.speech.pool import ModelPool
from transcriber.stopping import StopBudget
from transcriber.store.sqlite import Store
from transcriber.store.types import FinishHook

log = logging.getLogger(__name__)


class Scheduler(SourceEventsMixin, WorkerLoopMixin):
    """Feeds queued job ids to a thread pool running the engine; the store stays the truth."""

    def __init__(
        self, settings: Settings, store: Store, metrics: Metrics, changes: ChangeFeed, hooks: Sequence[FinishHook]
    ):
        self._settings = settings
        self._store = store
        self._metrics = metrics
        self._changes = changes
        self._hooks = hooks
        queue = settings.queue
        self._source = make_source(store, settings.database, JobQueue(), queue.max_attempts, self, queue.capacity)
        self._running: dict[str, RunningJob] = {}
        self._cancel_pending: set[str] = set()
        self._estimator = Estimator.for_device("cpu", settings.queue.stall_seconds)
        self._runner: JobRunner | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._slots: ThreadSlots | None = None
        self._background: set[asyncio.Future[Any]] = set()
        self._closing = False
        self._stopping: asyncio.Task[None] | None = None
        self._worker_count = 1
        self._reserved = 0  # admitted uploads not yet in the queue: capacity counts them
        self._engine: Engine | None = None
        self._width = WidthGate(0, 0.0)
        self.models = ModelPool.configured(settings, lambda: self._engine)
        self.outage = DiskOutage(settings.data_dir, store, settings.limits.min_free_disk_mb)
        self._put_back = PutBack(settings, store, self.outage, (metrics, changes, self._source.added))

    async def recover(self) -> None:
        """Re-queue what a previous process (or, shared, a dead server) accepted but did not finish."""
        await self._source.recover()

    def start(self, engine: Engine) -> None:
        """Run jobs on the default `engine`, or on the further model a job names (self.models)."""
        self._engine = engine
        self.models.start()
        info = engine.info
        self._estimator = Estimator.for_device(info.device, self._settings.queue.stall_seconds)
        self._worker_count = info.workers
        self._slots = ThreadSlots(info.workers)
        self._width = WidthGate(info.wide_threads, self._settings.whisper.wide_max_seconds)
        deps = RunnerDeps(
            self._store,
            self._metrics,
            self._estimator,
            self._changes,
            self._settings.data_dir,
            self._hooks,
            self.spawn,
            self._source.owner,
            cue_layout(self._settings.output),
        )
        self._runner = JobRunner(self.models, deps)
        self._workers = [asyncio.create_task(self._worker_loop(i), name=f"worker-{i}") for i in range(info.workers)]
        self._source.start()

    def admit(self, extra_seconds: float = 0.0) -> None:
        """Raise 503 unless a new job can be queued now."""
        if self._runner is None:
            raise Unavailable("The model is still loading; try again shortly.", code=Code.MODEL_LOADING, retry_after=5)
        if self._closing:
            raise Unavailable("The server is shutting down.", code=Code.SHUTTING_DOWN, retry_after=10)
        capacity = self._settings.queue.capacity
        if self._source.queued() + self._reserved >= capacity:
            wait = self._estimator.retry_after(self._source.queued_seconds() + extra_seconds, self._worker_count)
            message = f"The queue is full ({capacity} jobs); try again later."
            raise Unavailable(message, code=Code.QUEUE_FULL, retry_after=wait)

    def reserve(self, extra_seconds: float) -> Reservation:
        """Admit a job and hold its queue slot across the awaits until it is enqueued or given up."""
        self.admit(extra_seconds)
        self._reserved += 1
        return Reservation(self._release, self.enqueue)

    def _release(self) -> None:
        self._reserved -= 1

    def enqueue(self, job_id: str, duration: float) -> None:
        self._source.added(job_id, duration, time.time())

    def live(self, job_id: str) -> LiveJob | None:
        run = self._running.get(job_id)
        if run is None:
            return None
        return LiveJob(run.progress, " ".join(t for t in run.texts if t), run.language, tuple(run.languages))

    def queue_position(self, job: Job) -> int | None:
        place = self._source.place(job)
        return place.position if place else None

    def eta(self, job: Job) -> float | None:
        """Seconds until the job is done, from the measured real-time factor."""
        run = self._running.get(job.job_id)
        if run is not None:
            return self._estimator.running_eta(run.duration, run.progress, time.monotonic() - run.started)
        if job.status == JobStatus.RUNNING and job.started_at:  # another server runs it: its row's progress
            elapsed = max(0.0, time.time() - epoch(job.started_at))
            return self._estimator.running_eta(job.duration, job.progress, elapsed)
        place = self._source.place(job)
        if place is None:
            return None
        work = [(r.duration, r.progress) for r in self._running.values()] + list(place.elsewhere)
        running_left = sum(max(0.0, duration * (1 - progress)) for duration, progress in work)
        # with queued jobs every worker of every server is busy: the running jobs count the workers
        workers = max(self._worker_count, len(work))
        return self._estimator.queued_eta(place.seconds_ahead + running_left, job.duration, workers)

    def snapshot(self) -> SchedulerSnapshot:
        now = time.monotonic()
        stalled = tuple(
            r.job_id for r in self._running.values() if self._estimator.stalled(r.duration, now - r.last_progress)
        )
        return SchedulerSnapshot(
            self._runner is not None,
            self._closing,
            self._source.queued(),
            len(self._running),
            self._settings.queue.capacity,
            stalled,
        )

    async def cancel(self, job_id: str) -> str:
        """'cancelled' for a queued job, 'cancelling' for a running one, '' if neither."""
        if await self._store.cancel_queued(job_id):
            self._source.removed(job_id)
            job = await self._store.get_job(job_id)
            if job is not None:
                await self._cleanup_upload(job)  # it will never run: its audio goes now
            self._metrics.jobs.labels("cancelled").inc()
            self._changes.job_changed(job_id)
            log.info("job %s: cancelled while queued", job_id, extra={"job_id": job_id})
            return "cancelled"
        # Shared store: the job may run on another server, which sees the mark at its next segment.
        # Alone, a running job is this server's, though a worker may have claimed it and not yet
        # started it: the mark then waits for the worker in _cancel_pending.
        if await self._store.request_cancel(job_id):
            if (run := self._running.get(job_id)) is not None:
                run.cancel.set()
            elif not self._source.owner:
                self._cancel_pending.add(job_id)
            log.info("job %s: cancel requested while running", job_id, extra={"job_id": job_id})
            return "cancelling"
        return ""

    async def _cleanup_upload(self, job: Job) -> None:
        """Off the event loop: an upload may be gigabytes, and unlinking it takes real time."""
        if not self._settings.retention.keep_audio and job.upload_path:
            await asyncio.to_thread((self._settings.data_dir / job.upload_path).unlink, missing_ok=True)
            await self._store.forget_upload(job.job_id)

    def spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def begin_stop(self, budget: StopBudget) -> asyncio.Task[None]:
        """Start stopping (once): no new jobs from now on; the returned task ends within the budget."""
        self._closing = True
        if self._stopping is None:
            self._stopping = asyncio.create_task(self._stop(budget))
        return self._stopping

    async def stop(self, budget: StopBudget) -> None:
        await self.begin_stop(budget)

    async def _stop(self, budget: StopBudget) -> None:
        self._source.stop(len(self._workers))
        if self._workers:
            _, pending = await asyncio.wait(self._workers, timeout=budget.left(budget.finish_deadline))
            if pending:
                for run in self._running.values():
                    run.interrupt.set()
                _, pending = await asyncio.wait(pending, timeout=budget.left(budget.work_deadline))
            await self._abandon(pending)
        if self._background:
            await asyncio.wait(self._background, timeout=budget.left(budget.work_deadline))
        await self._source.close()
        await self.models.close()
        if self._slots is not None:
            self._slots.shutdown()

    async def _abandon(self, workers: set[asyncio.Task[None]]) -> None:
        """Jobs whose thread did not answer the interrupt in time go back to the queue as they
        would have on their own (no attempt counted); the process exits without their threads."""
        stuck = list(self._running)
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        for job_id in stuck:
            await self._store.requeue_job(job_id, refund_attempt=True, owner=self._source.owner)
            log.warning("job %s: did not stop in time, back in the queue", job_id, extra={"job_id": job_id})
