"""The model pool's rules with fast fake engines: the bound on loaded models, who waits, eviction of
the least recently used idle model, unloading after the TTL, and failed loads."""

from __future__ import annotations

import asyncio
import re
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from tests.support import FakeEngine
from transcriber.setting_sections import SettingsError
from transcriber.settings import settings_from
from transcriber.speech.engine import Engine
from transcriber.speech.pool import ModelPool, ModelUnavailable


class ClosingEngine(FakeEngine):
    def __init__(self, name: str):
        super().__init__()
        self._info = replace(self._info, name=name)
        self.closed = False

    def close(self) -> None:
        self.closed = True


class Loads:
    """A load function that records each call and what it loaded; a name in `broken` fails, and
    every load waits while `gate` is clear (`started` tells that one has begun)."""

    def __init__(self) -> None:
        self.engines: dict[str, ClosingEngine] = {}
        self.calls: list[str] = []
        self.broken: set[str] = set()
        self.gate = threading.Event()
        self.gate.set()
        self.started = threading.Event()

    def __call__(self, name: str) -> Engine:
        self.calls.append(name)
        self.started.set()
        assert self.gate.wait(10)
        if name in self.broken:
            raise RuntimeError(f"cannot read {name}/model.bin")
        self.engines[name] = ClosingEngine(name)
        return self.engines[name]


def pool(loads: Loads, ttl: float = 0.0, bound: int = 2) -> ModelPool:
    default = ClosingEngine("tiny.en")
    return ModelPool(lambda: default, "tiny.en", loads, ("a", "b"), ttl=ttl, bound=bound)


def loaded(models: ModelPool) -> dict[str, bool]:
    return {m["name"]: m["loaded"] for m in models.listing()}


async def test_bound_makes_a_job_wait_for_a_busy_model_then_evicts_it() -> None:
    loads = Loads()
    models = pool(loads, bound=2)  # the default and one more
    async with models.use("a") as engine:
        assert engine.info.name == "a"
        waiting = asyncio.create_task(_name_of(models, "b"))
        await asyncio.sleep(0.1)
        assert not waiting.done() and loaded(models) == {"tiny.en": True, "a": True, "b": False}
    assert await asyncio.wait_for(waiting, 5) == "b"
    assert loads.engines["a"].closed and loaded(models) == {"tiny.en": True, "a": False, "b": True}
    async with models.use(None) as default:
        assert default.info.name == "tiny.en"


async def test_room_for_two_keeps_both() -> None:
    loads = Loads()
    models = pool(loads, bound=3)
    assert await _name_of(models, "a") == "a" and await _name_of(models, "b") == "b"
    assert loaded(models) == {"tiny.en": True, "a": True, "b": True}


async def test_idle_models_unload_after_the_ttl_and_the_default_stays() -> None:
    loads = Loads()
    models = pool(loads, ttl=0.2)
    models.start()
    try:
        await _name_of(models, "a")
        deadline = asyncio.get_running_loop().time() + 5
        while loaded(models)["a"]:
            assert asyncio.get_running_loop().time() < deadline, "model a never unloaded"
            await asyncio.sleep(0.05)
        assert loaded(models) == {"tiny.en": True, "a": False, "b": False}
        assert loads.engines["a"].closed
    finally:
        await models.close()


async def test_prefetch_loads_in_the_background_once() -> None:
    loads = Loads()
    loads.gate.clear()
    models = pool(loads)
    models.prefetch("a")
    models.prefetch("a")
    using = asyncio.create_task(_name_of(models, "a"))
    assert await asyncio.to_thread(loads.started.wait, 5)  # the prefetch is loading, off the loop
    assert not using.done()  # the job waits for the load started at prefetch
    loads.gate.set()
    assert await asyncio.wait_for(using, 5) == "a"
    assert loads.calls == ["a"] and list(loads.engines) == ["a"]


async def test_a_failed_load_fails_every_waiter_and_is_listed() -> None:
    loads = Loads()
    loads.broken.add("a")
    loads.gate.clear()
    models = pool(loads)
    jobs = [asyncio.create_task(_name_of(models, "a")) for _ in range(2)]
    assert await asyncio.to_thread(loads.started.wait, 5)
    loads.gate.set()
    why = re.escape("model 'a' failed to load: RuntimeError: cannot read a/model.bin")
    for job in jobs:
        with pytest.raises(ModelUnavailable, match=why):
            await asyncio.wait_for(job, 5)
    assert loads.calls == ["a"]  # one load for both waiters
    listed = {m["name"]: m for m in models.listing()}
    assert listed["a"]["loaded"] is False and "cannot read" in listed["a"]["error"]
    with pytest.raises(ModelUnavailable, match="not configured"):
        await _name_of(models, "large-v9")


async def _name_of(models: ModelPool, name: str) -> str:
    async with models.use(name) as engine:
        return engine.info.name


def test_settings_name_further_models_from_the_environment(tmp_path: Path) -> None:
    env = {"WHISPER_MODELS": "base, small ,", "WHISPER_MODEL_TTL": "60", "WHISPER_MAX_LOADED_MODELS": "3"}
    whisper = settings_from({}, env, base_dir=tmp_path).whisper
    assert (whisper.models, whisper.model_ttl, whisper.max_loaded_models) == (("base", "small"), 60.0, 3)
    with pytest.raises(SettingsError, match="max_loaded_models must be at least 2"):
        settings_from({"whisper": {"models": ["base"], "max_loaded_models": 1}}, {}, base_dir=tmp_path)
