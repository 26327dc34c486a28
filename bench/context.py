"""What every benchmark case gets: fixtures, sizes for this run, places to put figures."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.direct import DirectLoop
from bench.fixtures import Fixtures
from bench.report import Figure, Throughput
from bench.server import Server, ServerConfig
from transcriber.setting_sections import WhisperSettings
from transcriber.speech.models import resolve_model
from transcriber.speech.parallelism import derive_parallelism

log = logging.getLogger("bench")


@dataclass
class Context:
    fixtures: Fixtures
    work_dir: Path
    models_dir: Path
    quick: bool
    repeats: int
    long_repeats: int
    sweep_repeats: int = 1
    server_env: dict[str, str] = field(default_factory=dict)
    server_toml: str = ""
    upload_dirs: list[Path] = field(default_factory=list)  # more disks for the big-upload comparison
    figures: list[Figure] = field(default_factory=list)
    rates: list[Throughput] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)

    def model_path(self, name: str) -> Path:
        return resolve_model(name, self.models_dir, allow_download=False).path

    def server(self, config: ServerConfig, work_dir: Path | None = None) -> Server:
        """A server with these settings; --server-env applies underneath the config's own values."""
        config = replace(config, env={**self.server_env, **config.env}, toml=self.server_toml + config.toml)
        return Server(config, work_dir or self.work_dir, self.models_dir)

    def direct(
        self, model: str, threads: int, mode: str = "plain", workers: int = 1, load: str = "thread"
    ) -> DirectLoop:
        return DirectLoop(self.model_path(model), threads, mode, workers, log=self.work_dir / "direct.log", load=load)

    def add(self, *figures: Figure) -> None:
        for figure in figures:
            log.info("  #%d %s: %s (%s)", figure.target, figure.name, figure.shown(), figure.detail)
        self.figures.extend(figures)


def default_shape(env: dict[str, str] | None = None) -> tuple[int, int]:
    """(workers, cpu_threads) the server derives on this machine, from --server-env or nothing."""
    env = env or {}
    whisper = WhisperSettings(
        workers=int(env.get("TRANSCRIBER_WORKERS") or 0), cpu_threads=int(env.get("TRANSCRIBER_CPU_THREADS") or 0)
    )
    return derive_parallelism(whisper, "cpu", os.cpu_count())
