"""The layering rule: the core (engine, scheduler, store, queue, job service) never imports aiohttp."""

from __future__ import annotations

import subprocess
import sys

import pytest

CORE = [
    "transcriber.speech.engine",
    "transcriber.jobs.scheduler",
    "transcriber.store.sqlite",
    "transcriber.jobs.queue",
    "transcriber.jobs.runner",
    "transcriber.errors",
    "transcriber.domain.job",
    "transcriber.jobs.status",
    "transcriber.events.changes",
    "transcriber.events.broker",
    "transcriber.events.listeners",
    "transcriber.jobs.service",
    "transcriber.jobs.upload_files",
    "transcriber.notify.urlguard",
    "transcriber.store.webhook_rows",
    "transcriber.web.openai.formats",
    "transcriber.events.waiters",
]


@pytest.mark.parametrize("module", CORE)
def test_core_module_does_not_import_aiohttp(module: str) -> None:
    """In a fresh interpreter, importing the module leaves aiohttp out of sys.modules."""
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m.split('.')[0] == 'aiohttp'))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]", f"{module} pulls in {result.stdout.strip()}"


def test_the_http_layer_does_import_it() -> None:
    """The check above can fail: the app module, which is HTTP, shows aiohttp in sys.modules."""
    code = "import sys, transcriber.web.app; print('aiohttp.web' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "True"
