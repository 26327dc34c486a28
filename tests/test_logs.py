"""Log output: JSON lines and text lines carry job ids, secrets never reach the stream."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest

from transcriber.logs import configure_logging

TOUCHED = ("faster_whisper", "httpx", "httpcore", "urllib3", "huggingface_hub", "aiosqlite", "aiohttp.access")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    # configure_logging changes process-wide state; put pytest's capture handlers back.
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in TOUCHED}
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        if handler not in handlers:
            handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_line_carries_job_id_and_fields() -> None:
    out = io.StringIO()
    configure_logging("info", "json", out)
    logging.getLogger("transcriber.jobs.scheduler").info(
        "job %s: done", "j-1", extra={"job_id": "j-1", "seconds": 1.5, "obj": object()}
    )
    [entry] = json_lines(out)
    assert entry["message"] == "job j-1: done"
    assert entry["job_id"] == "j-1"
    assert entry["level"] == "INFO"
    assert entry["logger"] == "transcriber.jobs.scheduler"
    assert entry["seconds"] == 1.5
    assert "obj" not in entry  # not JSON-serialisable, so left out rather than breaking the line
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"])
    assert "exc" not in entry


def test_json_line_without_job_id_has_no_job_id_key() -> None:
    out = io.StringIO()
    configure_logging("info", "json", out)
    logging.getLogger("transcriber").info("server ready on port %d", 8002)
    [entry] = json_lines(out)
    assert entry["message"] == "server ready on port 8002"
    assert "job_id" not in entry


def test_text_line_shows_job_id() -> None:
    out = io.StringIO()
    configure_logging("info", "text", out)
    logging.getLogger("transcriber.jobs.scheduler").info("job %s: done", "abc", extra={"job_id": "abc"})
    line = out.getvalue().rstrip("\n")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z INFO +transcriber\.jobs\.scheduler: job abc: done job_id=abc", line)


def test_level_filters_and_second_call_replaces_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("warning", "text", first)
    configure_logging("warning", "json", second)
    log = logging.getLogger("transcriber")
    log.info("hidden")
    log.warning("shown")
    assert first.getvalue() == ""
    assert [e["message"] for e in json_lines(second)] == ["shown"]
    assert len(logging.getLogger().handlers) == 1


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_bearer_tokens_and_keys_are_redacted(fmt: str) -> None:
    out = io.StringIO()
    configure_logging("info", "json" if fmt == "json" else "text", out, secrets=["k3y-SECRET", ""])
    log = logging.getLogger("aiohttp.access")
    log.info('headers {"Authorization": "Bearer tok.en-123"} then bearer abc/def=')
    log.info("client used key %s", "k3y-SECRET", extra={"detail": {"key": "k3y-SECRET"}})
    log.info("raw", extra={"request_header": {"Authorization": "Basic dXNlcjpwdw=="}})
    text = out.getvalue()
    for secret in ("tok.en-123", "abc/def=", "k3y-SECRET", "dXNlcjpwdw=="):
        assert secret not in text
    assert "Bearer ***" in text
    assert "client used key ***" in text
    if fmt == "json":
        entries = json_lines(out)
        assert entries[1]["detail"] == {"key": "***"}
        assert entries[2]["request_header"] == {"Authorization": "***"}


def test_empty_secret_list_leaves_text_alone() -> None:
    out = io.StringIO()
    configure_logging("info", "text", out, secrets=[" "])
    logging.getLogger("transcriber").info("nothing to hide")
    assert "nothing to hide" in out.getvalue()


def test_exception_serialises_with_redaction() -> None:
    out = io.StringIO()
    configure_logging("info", "json", out, secrets=["hunter2"])
    log = logging.getLogger("transcriber.jobs.scheduler")
    try:
        raise ValueError("upstream refused key hunter2")
    except ValueError:
        log.exception("job %s: failed", "j-9", extra={"job_id": "j-9"})
    [entry] = json_lines(out)
    assert entry["job_id"] == "j-9"
    assert entry["exc"].startswith("Traceback")
    assert "ValueError: upstream refused key ***" in entry["exc"]
    assert "hunter2" not in out.getvalue()


def test_exception_in_text_format_follows_the_line() -> None:
    out = io.StringIO()
    configure_logging("info", "text", out)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("transcriber").exception("job %s: crashed", "x", extra={"job_id": "x"})
    first, *rest = out.getvalue().splitlines()
    assert first.endswith("job x: crashed job_id=x")
    assert rest[0].startswith("Traceback") and rest[-1] == "RuntimeError: boom"


def test_bad_format_arguments_do_not_raise_in_caller(capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    configure_logging("info", "json", out)
    too_few = ("only-one",)
    logging.getLogger("transcriber").info("two %s %s", *too_few)
    # logging reports the broken call on stderr itself; the caller carries on.
    assert "--- Logging error ---" in capsys.readouterr().err


def test_noisy_libraries_are_quiet_unless_debug() -> None:
    out = io.StringIO()
    configure_logging("info", "json", out)
    logging.getLogger("faster_whisper").info("Processing audio with duration 00:10")
    logging.getLogger("faster_whisper").warning("something odd")
    logging.getLogger("aiohttp.access").info("GET /health 200")
    assert [e["message"] for e in json_lines(out)] == ["something odd", "GET /health 200"]
    configure_logging("debug", "json", out)
    assert logging.getLogger("faster_whisper").getEffectiveLevel() == logging.DEBUG


def test_unknown_level_and_format_are_rejected() -> None:
    with pytest.raises(ValueError, match="log level"):
        configure_logging("loud", "text", io.StringIO())
    with pytest.raises(ValueError, match="log format"):
        configure_logging("info", "yaml", io.StringIO())  # type: ignore[arg-type]
