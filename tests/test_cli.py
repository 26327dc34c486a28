"""The real command line, `python -m transcriber ...`, run as a subprocess."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.wer import word_error_rate
from tests.server_process import ServerProcess
from tests.support import CLIPS, TEXTS

pytestmark = pytest.mark.slow

QUICK = 60  # seconds a command that does not load a model may take, at most
OUR_PREFIXES = ("TRANSCRIBE_", "TRANSCRIBER_", "WHISPER_", "REDIS_URL", "OPENAI_")


def clean_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without any of our settings, plus a data dir in tmp."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(OUR_PREFIXES)}
    return {**env, "TRANSCRIBER_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1", **extra}


def cli(*args: str, cwd: Path, env: dict[str, str], timeout: float = QUICK) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "transcriber", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_help(tmp_path: Path) -> None:
    done = cli("--help", cwd=tmp_path, env=clean_env(tmp_path / "data"))
    assert done.returncode == 0, done.stderr
    for command in ("serve", "models", "submit", "--config"):
        assert command in done.stdout
    assert done.stderr == ""


def test_models_list_shows_the_packaged_models(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = cli("models", "list", cwd=tmp_path, env=clean_env(data))
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split()[1] for line in done.stdout.splitlines()[3:] if line.strip()}
    assert rows.get("tiny.en") == "package", done.stdout
    assert rows.get("base") == "package", done.stdout
    assert f"models directory: {data / 'models'}" in done.stdout
    assert "configured model: base" in done.stdout
    assert "Traceback" not in done.stderr


def test_models_list_includes_a_models_dir_entry(tmp_path: Path) -> None:
    data = tmp_path / "data"
    mine = data / "models" / "my-model"
    mine.mkdir(parents=True)
    for name in ("model.bin", "config.json"):
        (mine / name).write_bytes(b"{}")
    (data / "models" / "not-a-model").mkdir()
    done = cli("models", "list", cwd=tmp_path, env=clean_env(data))
    assert done.returncode == 0, done.stderr
    assert any(line.split()[:2] == ["my-model", "models_dir"] for line in done.stdout.splitlines())
    assert "not-a-model" not in done.stdout


BAD_CONFIGS = {
    "unknown-section": ("[bogus]\nx = 1\n", {}, "bogus"),
    "unknown-key": ("[server]\nprot = 1\n", {}, "prot"),
    "invalid-toml": ("[server\nport = 1\n", {}, "TOML"),
    "bad-device-env": ("", {"WHISPER_DEVICE": "tpu"}, "WHISPER_DEVICE"),
    "negative-env": ("", {"TRANSCRIBER_QUEUE_CAPACITY": "-3"}, "TRANSCRIBER_QUEUE_CAPACITY"),
}


@pytest.mark.parametrize("command", [["models", "list"], ["serve"]])
@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_configuration_is_one_line_and_exit_2(tmp_path: Path, case: str, command: list[str]) -> None:
    text, env, named = BAD_CONFIGS[case]
    config = tmp_path / "config.toml"
    config.write_text(text, encoding="utf-8")
    done = cli("--config", str(config), *command, cwd=tmp_path, env=clean_env(tmp_path / "d", **env))
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("transcriber: configuration error"), lines[0]
    assert named in lines[0]
    assert done.stdout == ""


def test_missing_config_file_is_a_configuration_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    done = cli("--config", str(missing), "models", "list", cwd=tmp_path, env=clean_env(tmp_path))
    assert done.returncode == 2
    assert done.stderr.startswith("transcriber: configuration error")
    assert str(missing) in done.stderr and len(done.stderr.splitlines()) == 1


def test_non_utf8_config_is_a_configuration_error(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_bytes(b"\xff\xfe[server]\n")
    done = cli("--config", str(config), "models", "list", cwd=tmp_path, env=clean_env(tmp_path))
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("transcriber: configuration error")
    assert "Traceback" not in done.stderr


def test_serve_with_unknown_model_fails_with_one_clear_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = clean_env(
        data,
        WHISPER_MODEL="definitely-not-a-model",
        TRANSCRIBE_SERVER_HOST="127.0.0.1",
        TRANSCRIBE_SERVER_PORT="0",
    )
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "transcriber", "--config", os.devnull, "serve"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=30,
        check=False,
    )
    assert time.monotonic() - started < 30
    output = done.stdout
    assert done.returncode != 0, output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if " ERROR " in f" {line} "]
    assert len(errors) == 1, output
    assert "definitely-not-a-model" in errors[0]
    assert str(data / "models") in errors[0]  # says where to put the model
    assert "WHISPER_MODEL" in errors[0]


async def test_serve_and_submit_print_the_transcript(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", TRANSCRIBER_LOG_LEVEL="WARNING")
    server.start()
    try:
        health = await server.wait_ready(timeout=120)
        assert health["model"]["name"] == "tiny.en"
        code, transcript, err = await run_cli(tmp_path, server, "submit", str(CLIPS / "hello.wav"))
        assert code == 0, err + server.output()
        assert word_error_rate(TEXTS["hello.wav"], transcript) < 0.2, transcript
        assert "completed" not in transcript  # progress goes to stderr, the text to stdout
        assert "job " in err
        assert server.terminate(timeout=60) == 0, server.output()
    finally:
        server.stop()


async def run_cli(tmp_path: Path, server: ServerProcess, *args: str) -> tuple[int, str, str]:
    """`python -m transcriber ARGS` against the server, as a user's shell runs it: (status, stdout, stderr)."""
    env = clean_env(tmp_path / "client-side", TRANSCRIBE_SERVER_URL=server.url)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "transcriber",
        *args,
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
