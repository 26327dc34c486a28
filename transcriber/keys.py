"""Typed keys for the objects the app shares between handlers and lifecycles."""

from __future__ import annotations

import asyncio

from aiohttp import web

from transcriber.handoff import SummaryRelay
from transcriber.jobs import JobService
from transcriber.metrics import Metrics
from transcriber.scheduler import Scheduler
from transcriber.settings import Settings
from transcriber.store import Store

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
SCHEDULER = web.AppKey("scheduler", Scheduler)
METRICS = web.AppKey("metrics", Metrics)
JOBS = web.AppKey("jobs", JobService)
STARTED = web.AppKey("started", float)
RELAY = web.AppKey("relay", SummaryRelay)
STOPPING = web.AppKey("stopping", asyncio.Event)  # set when shutdown begins: requests waiting on jobs return
