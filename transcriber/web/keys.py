"""Typed keys for the objects the app shares between handlers and lifecycles."""

from __future__ import annotations

from aiohttp import web

from transcriber.events.broker import EventBroker
from transcriber.events.changes import ChangeFeed
from transcriber.events.waiters import Waiters
from transcriber.jobs.admission import Admission
from transcriber.jobs.health import Health
from transcriber.jobs.live_lane import LiveLane
from transcriber.jobs.resumable import ResumableUploads
from transcriber.jobs.scheduler import Scheduler
from transcriber.jobs.service import JobService
from transcriber.metrics import Metrics
from transcriber.notify.summaries import Summaries
from transcriber.settings import Settings
from transcriber.speech.loader import EngineLoader
from transcriber.store.sqlite import Store
from transcriber.web.client_address import ClientAddresses

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
SCHEDULER = web.AppKey("scheduler", Scheduler)
METRICS = web.AppKey("metrics", Metrics)
JOBS = web.AppKey("jobs", JobService)
LOADER = web.AppKey("loader", EngineLoader)
SUMMARIES = web.AppKey("summaries", Summaries)
CHANGES = web.AppKey("changes", ChangeFeed)
HEALTH = web.AppKey("health", Health)
EVENTS = web.AppKey("events", EventBroker)
ADMISSION = web.AppKey("admission", Admission)
CLIENT_ADDRESSES = web.AppKey("client_addresses", ClientAddresses)  # per-client upload caps
WAITERS = web.AppKey("waiters", Waiters)  # requests waiting for their job (the OpenAI routes)
TUS = web.AppKey("tus", ResumableUploads)  # resumable uploads at /uploads/ (web/tus.py)

LIVE = web.AppKey("live", LiveLane)  # live transcription sessions: their model replica, threads and limits
