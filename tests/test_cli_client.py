"""The client commands (submit, status, jobs, cancel) as subprocesses against a real server."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.wer import word_error_rate
from tests.server_process import ServerProcess
from tests.support import CLIPS, TEXTS, free_port, speech_wav
from tests.test_cli import clean_env
from tests.test_cli import cli as run_cli

pytestmark = pytest.mark.slow
KEY = "cli-test-key"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real server for the module: tiny.en, one worker, an API key, summaries off."""
    root = tmp_path_factory.mktemp("cli-server")
    config = root / "config.toml"
    config.write_text("[summarizer]\nenabled = false\n", encoding="utf-8")
    proc = ServerProcess(
        root / "data", config, TRANSCRIBER_API_KEYS=KEY, TRANSCRIBER_WORKERS="1", TRANSCRIBER_LOG_LEVEL="WARNING"
    )
    proc.start()
    try:
        asyncio.run(proc.wait_ready(timeout=120))
        yield proc
    finally:
        proc.stop()


def cli(
    server_url: str, *args: str, cwd: Path, key: str = KEY, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    env = clean_env(cwd / "client-data", TRANSCRIBE_SERVER_URL=server_url, TRANSCRIBER_API_KEY=key, COLUMNS="200")
    return run_cli(*args, cwd=cwd, env=env, timeout=timeout)


def error_lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in done.stderr, done.stderr
    return [line for line in done.stderr.splitlines() if line.startswith("transcriber: error:")]


def test_several_files_are_saved_under_output(server: ServerProcess, tmp_path: Path) -> None:
    names = ["hello.wav", "speech.ogg", "numbers.flac"]
    out = tmp_path / "out"
    done = cli(
        server.url, "submit", *(str(CLIPS / n) for n in names), "--format", "srt", "--output", str(out), cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr + server.output()
    assert done.stdout == ""
    assert sorted(p.name for p in out.iterdir()) == ["hello.srt", "numbers.srt", "speech.srt"]
    srt = (out / "hello.srt").read_text(encoding="utf-8")
    assert srt.startswith("1\n") and " --> " in srt
    spoken = " ".join(line for line in srt.splitlines() if line and "-->" not in line and not line.isdigit())
    assert word_error_rate(TEXTS["hello.wav"], spoken) < 0.2, srt
    for name in names:  # a line per file when accepted and when done, with its job id
        assert any(line.startswith("job ") and f": {name}: completed" in line for line in done.stderr.splitlines())


def test_transcript_goes_to_stdout_and_json_format_parses(server: ServerProcess, tmp_path: Path) -> None:
    done = cli(server.url, "submit", str(CLIPS / "speech.mp3"), "--format", "json", "--word-timestamps", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["language"] == "en" and result["segments"][0]["words"]
    assert word_error_rate(TEXTS["speech.mp3"], " ".join(s["text"] for s in result["segments"])) < 0.2
    # progress came from the job's event stream, which this server has (the polling fallback is
    # covered against a server without one in test_client_events)
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=10) as resp:
        metrics = resp.read().decode()
    assert 'route="/jobs/{job_id}/events",status="200"' in metrics, metrics


def test_a_failing_file_gives_the_servers_message_and_exit_1(server: ServerProcess, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("these are meeting notes, not audio\n", encoding="utf-8")
    out = tmp_path / "out"
    done = cli(server.url, "submit", str(CLIPS / "hello.wav"), str(notes), "--output", str(out), cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    [line] = error_lines(done)
    assert line.startswith("transcriber: error: notes.txt: The upload is not decodable audio")
    assert "415" in line and "not_audio" in line
    assert [p.name for p in out.iterdir()] == ["hello.txt"]  # the good file is still saved


def test_a_job_that_fails_on_the_server_exits_1(server: ServerProcess, tmp_path: Path) -> None:
    # The English-only model refuses a translation before the job is created: the server's 400 message.
    done = cli(server.url, "submit", str(CLIPS / "hello.wav"), "--task", "translate", cwd=tmp_path)
    assert done.returncode == 1
    [line] = error_lines(done)
    assert "cannot translate" in line and "unsupported_task" in line
    assert done.stdout == ""


@pytest.mark.parametrize("command", [["jobs"], ["status", "nope"], ["submit", str(CLIPS / "hello.wav")]])
def test_a_bad_key_is_one_line_and_exit_1(server: ServerProcess, tmp_path: Path, command: list[str]) -> None:
    done = cli(server.url, *command, cwd=tmp_path, key="wrong-key")
    assert done.returncode == 1
    assert error_lines(done) == [
        "transcriber: error: A valid 'Authorization: Bearer <key>' header is required. (HTTP 401, unauthorized)"
    ]
    assert done.stdout == ""


def test_an_unreachable_server_is_one_line_and_exit_1(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = cli(url, "submit", str(CLIPS / "hello.wav"), cwd=tmp_path)
    assert done.returncode == 1
    [line] = error_lines(done)
    assert line.startswith(f"transcriber: error: cannot reach the server at {url}")
    assert len(done.stderr.splitlines()) == 1


def test_usage_errors_exit_2(server: ServerProcess, tmp_path: Path) -> None:
    two = [str(CLIPS / "hello.wav"), str(CLIPS / "speech.ogg")]
    done = cli(server.url, "submit", *two, "--job-id", "x", cwd=tmp_path)
    assert done.returncode == 2 and "--job-id" in done.stderr
    done = cli(server.url, "submit", str(tmp_path / "missing.wav"), cwd=tmp_path)
    assert done.returncode == 2 and "missing.wav" in done.stderr and "Traceback" not in done.stderr


def wait_for(server: ServerProcess, job_id: str, want: str, timeout: float = 120) -> dict[str, Any]:
    """Poll /status directly (a CLI process per poll would cost the machine more than the job)."""
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(f"{server.url}/status/{job_id}", headers={"Authorization": f"Bearer {KEY}"})
    while True:
        with urllib.request.urlopen(request, timeout=10) as resp:
            body: dict[str, Any] = json.load(resp)
        if body["status"] == want:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.1)


def test_no_wait_status_jobs_and_cancel(server: ServerProcess, tmp_path: Path) -> None:
    long = speech_wav(tmp_path / "long.wav", ["speech.ogg"] * 8)  # ~2 min of speech keeps the one worker busy
    ids = []
    for path in (long, CLIPS / "hello.wav"):
        done = cli(server.url, "submit", "--no-wait", str(path), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        ids.append(done.stdout.strip())
    long_id, queued_id = ids
    assert all(len(i) == 32 for i in ids), ids
    done = cli(server.url, "cancel", queued_id, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, f"job {queued_id}: cancelled\n"), done.stderr
    done = cli(server.url, "status", queued_id, cwd=tmp_path)
    assert done.returncode == 0 and "cancelled" in done.stdout
    wait_for(server, long_id, "running")
    done = cli(server.url, "cancel", long_id, cwd=tmp_path)
    assert done.returncode == 0 and "cancel" in done.stdout, done.stderr
    wait_for(server, long_id, "cancelled")
    done = cli(server.url, "cancel", long_id, cwd=tmp_path)
    assert done.returncode == 1 and "job_not_active" in done.stderr
    done = cli(server.url, "jobs", "--status", "cancelled", "--limit", "5", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if "cancelled" in line]
    assert {long_id, queued_id} <= {word for line in rows for word in line.replace("│", " ").split()}


def test_a_server_url_without_scheme_is_one_line_and_exit_1(tmp_path: Path) -> None:
    done = cli("localhost:8002", "jobs", cwd=tmp_path)
    assert done.returncode == 1
    assert error_lines(done) == [
        "transcriber: error: the server URL 'localhost:8002' must start with http:// or https://"
    ]


def test_diarize_names_the_speaker_of_each_line(server: ServerProcess, tmp_path: Path) -> None:
    done = cli(server.url, "submit", str(CLIPS / "hello.wav"), "--diarize", "--max-speakers", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr + server.output()
    assert done.stdout.startswith("S1: "), done.stdout
    assert word_error_rate(TEXTS["hello.wav"], done.stdout.removeprefix("S1: ")) < 0.2
    bad = cli(server.url, "submit", str(CLIPS / "hello.wav"), "--min-speakers", "2", cwd=tmp_path)
    assert bad.returncode == 1 and "diarize" in " ".join(error_lines(bad)), bad.stderr
