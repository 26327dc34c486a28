"""`transcriber models pull` against a loopback hub serving the pip-shipped tiny.en in the hub's
layout: the model is placed whole and checked; a corrupted, cut-off, killed or offline pull leaves
nothing behind; HF_ENDPOINT and proxies are honoured."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.hub_server import HubServer
from tests.test_cli import clean_env, cli
from transcriber.speech.models import resolve_model

REPO = "Systran/faster-whisper-tiny.en"


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return resolve_model("tiny.en", tmp_path_factory.mktemp("unused")).path


def _env(data: Path, hub: HubServer, **extra: str) -> dict[str, str]:
    env = clean_env(data, HF_ENDPOINT=hub.url, NO_PROXY="127.0.0.1,localhost", HF_HUB_DISABLE_TELEMETRY="1")
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy", "HF_HUB_OFFLINE"):
        env.pop(name, None)
    return {**env, "HF_HOME": str(data.parent / "hf-home"), **extra}


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _nothing_left(models: Path) -> None:
    left = sorted(p.name for p in models.iterdir()) if models.exists() else []
    assert left == [], left  # no model under the name, no partial folder


def test_pull_places_the_checked_model_and_list_shows_it(tmp_path: Path, shipped: Path) -> None:
    data = tmp_path / "data"
    with HubServer(REPO, shipped) as hub:
        done = cli("models", "pull", "tiny.en", cwd=tmp_path, env=_env(data, hub), timeout=120)
        assert done.returncode == 0, done.stderr
    placed = data / "models" / "tiny.en"
    assert f"placed in {placed}" in done.stdout
    assert _digests(placed) == _digests(shipped)  # byte for byte what the hub served, nothing else
    assert any(path.startswith(f"/{REPO}/resolve/") for _, _, path in hub.requests)
    assert resolve_model("tiny.en", data / "models").source == "models_dir"  # the server would load it
    listed = cli("models", "list", cwd=tmp_path, env=clean_env(data, WHISPER_MODELS="tiny.en,small"))
    assert any(line.split()[:2] == ["tiny.en", "models_dir"] for line in listed.stdout.splitlines()), listed.stdout
    assert "further models: tiny.en, small (not installed)" in listed.stdout

    again = cli("models", "pull", "tiny.en", cwd=tmp_path, env=_env(data, hub), timeout=60)
    assert again.returncode == 1 and "--force" in again.stderr and "Traceback" not in again.stderr


@pytest.mark.parametrize("mode", ["corrupt", "cut"])
def test_a_bad_or_cut_off_download_leaves_nothing(tmp_path: Path, shipped: Path, mode: str) -> None:
    data = tmp_path / "data"
    with HubServer(REPO, shipped, mode=mode) as hub:
        done = cli("models", "pull", "tiny.en", cwd=tmp_path, env=_env(data, hub), timeout=120)
    assert done.returncode == 1, done.stdout
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("transcriber: models pull tiny.en:") and "nothing was placed" in line, done.stderr
    assert ("SHA-256" in line) if mode == "corrupt" else ("downloading" in line)
    assert "Traceback" not in done.stderr
    _nothing_left(data / "models")


def test_a_killed_pull_leaves_no_model_and_the_next_pull_cleans_up(tmp_path: Path, shipped: Path) -> None:
    data = tmp_path / "data"
    with HubServer(REPO, shipped, mode="slow") as hub:
        proc = subprocess.Popen(
            [sys.executable, "-m", "transcriber", "models", "pull", "tiny.en"],
            cwd=tmp_path,
            env=_env(data, hub),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while not any(n == "model.bin" for _, _, p in hub.requests for n in [p.rsplit("/", 1)[-1]]):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        while not _arriving(data / "models"):  # some of model.bin is on disk: killed mid-file
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        models = data / "models"
        assert not (models / "tiny.en").exists()
        assert [p.name.startswith(".pull-tiny.en.") for p in models.iterdir()] == [True]
        listed = cli("models", "list", cwd=tmp_path, env=clean_env(data))
        assert "models_dir" not in listed.stdout  # the partial folder is no model
        hub.mode = "ok"
        done = cli("models", "pull", "tiny.en", cwd=tmp_path, env=_env(data, hub), timeout=120)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in models.iterdir()) == ["tiny.en"]


def _arriving(models: Path) -> bool:
    names = ("model.bin", ".incomplete")
    return any(p.is_file() and p.name.endswith(names) and p.stat().st_size > 0 for p in models.rglob("*"))


def test_offline_fetches_nothing(tmp_path: Path, shipped: Path) -> None:
    data = tmp_path / "data"
    with HubServer(REPO, shipped) as hub:
        done = cli("models", "pull", "tiny.en", cwd=tmp_path, env=_env(data, hub, HF_HUB_OFFLINE="1"))
    assert done.returncode == 1 and "HF_HUB_OFFLINE" in done.stderr
    assert hub.requests == []
    _nothing_left(data / "models")


def test_the_hub_is_reached_through_the_configured_proxy(tmp_path: Path, shipped: Path) -> None:
    data = tmp_path / "data"
    with HubServer(REPO, shipped) as proxy:
        # An endpoint no resolver knows: only a proxy that forwards it can answer.
        env = _env(data, proxy, HF_ENDPOINT="http://hub.invalid", HTTP_PROXY=proxy.url, NO_PROXY="")
        done = cli("models", "pull", "tiny.en", cwd=tmp_path, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert {host for _, host, _ in proxy.requests} == {"hub.invalid"}
    assert _digests(data / "models" / "tiny.en") == _digests(shipped)


def test_the_image_build_bakes_models_with_the_module_entry(tmp_path: Path, shipped: Path) -> None:
    """The Dockerfile's `models` stage runs exactly this (MODELS, HF_ENDPOINT build arguments)."""
    baked = tmp_path / "opt-models"
    with HubServer(REPO, shipped) as hub:
        env = _env(tmp_path / "data", hub)
        command = [sys.executable, "-m", "transcriber.speech.pull", "tiny.en,", str(baked)]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert _digests(baked / "tiny.en") == _digests(shipped)
    dockerfile = (Path(__file__).parents[1] / "Dockerfile").read_text(encoding="utf-8")
    assert 'python -m transcriber.speech.pull "$MODELS" /opt/models' in dockerfile
    assert dockerfile.count("COPY --from=models --chown=10001:10001 /opt/models/ /models/") == 2  # cpu and cuda
