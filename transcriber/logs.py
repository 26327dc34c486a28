"""Root logger set-up: text or JSON lines, the job id on job lines, secrets redacted."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Sequence
from typing import Any, Literal, TextIO

from transcriber.clock import from_epoch

LogFormat = Literal["text", "json"]

REDACTED = "***"

# Everything a bare LogRecord carries; any other attribute arrived through `extra=`.
_RECORD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}

# RFC 6750 tokens are b64token; matching up to a quote, comma or semicolon also catches tokens
# quoted inside reprs and header dumps.
_BEARER = re.compile(r"(?i)\b(Bearer\s+)[^\s\"',;]+")
# ?access_token=KEY (the web page's event stream, player and downloads), even URL-encoded.
_ACCESS_TOKEN = re.compile(r"(access_token=)[^&\s\"']+")

# Chatty at INFO (per-request or per-file lines) and of no use to an operator unless debugging.
_QUIET_UNLESS_DEBUG = ("faster_whisper", "httpx", "httpcore", "urllib3", "huggingface_hub")
# Logs every statement at DEBUG, which drowns our own debug lines.
_QUIET_ALWAYS = ("aiosqlite",)


class SecretRedactor(logging.Filter):
    """Replaces bearer tokens and the configured secrets in a record before any formatter sees it.

    It sits on the handler, not on a logger: logger filters do not run for records that
    propagate up from child loggers, handler filters see every record.
    """

    def __init__(self, secrets: Sequence[str] = ()) -> None:
        super().__init__()
        # Longest first, so a key that contains another key is removed whole.
        words = sorted({s for s in secrets if s.strip()}, key=len, reverse=True)
        self._secrets = re.compile("|".join(map(re.escape, words))) if words else None

    def redact(self, text: str) -> str:
        text = _BEARER.sub(rf"\g<1>{REDACTED}", text)
        text = _ACCESS_TOKEN.sub(rf"\g<1>{REDACTED}", text)
        return self._secrets.sub(REDACTED, text) if self._secrets else text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            # A bad format string is the formatter's to report (Handler.handleError); a filter
            # that raised would instead break the caller's log call.
            return True
        record.msg, record.args = self.redact(message), None
        self._redact_exception(record)
        for key, value in list(vars(record).items()):
            if key not in _RECORD_ATTRS:
                setattr(record, key, self._scrub(value, key))
        return True

    def _redact_exception(self, record: logging.LogRecord) -> None:
        # Formatters reuse a cached exc_text, so filling it here keeps secrets in exception
        # messages (e.g. a client error that echoes a header) out of every format.
        if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
            record.exc_text = _PLAIN.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)

    def _scrub(self, value: object, key: str = "") -> object:
        if key.lower() == "authorization":
            return REDACTED
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {k: self._scrub(v, str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self._scrub(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self._scrub(v) for v in value)
        return value


_PLAIN = logging.Formatter()


class TextFormatter(logging.Formatter):
    """`<UTC time> <LEVEL> <logger>: <message> job_id=<id>`, then the traceback if any."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return from_epoch(record.created)

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        job_id = getattr(record, "job_id", None)
        return line if job_id is None else f"{line} job_id={job_id}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, job_id, exc and the extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": from_epoch(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        job_id = getattr(record, "job_id", None)
        if job_id is not None:
            entry["job_id"] = job_id if isinstance(job_id, str | int) else str(job_id)
        if record.exc_info and record.exc_info[0] is not None:
            entry["exc"] = record.exc_text or self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = record.stack_info
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRS and key not in entry and _serialisable(value):
                entry[key] = value
        return json.dumps(entry, ensure_ascii=False)


def _serialisable(value: object) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def _parse_level(level: str) -> int:
    number = logging.getLevelName(level.strip().upper())
    if not isinstance(number, int):
        raise ValueError(f"unknown log level {level!r}: use debug, info, warning or error")
    return number


class _OwnHandler(logging.StreamHandler[TextIO]):
    """The handler configure_logging installs, told apart from others when replacing it."""


def configure_logging(
    level: str,
    fmt: LogFormat,
    stream: TextIO | None = None,
    *,
    secrets: Sequence[str] = (),
) -> None:
    """Point the root logger at one stream handler; safe to call again (it replaces the handler).

    `secrets` (the API keys) and any `Bearer <token>` are written as `***`. aiohttp.access is
    left to inherit the root level, so access lines (INFO) show at info and debug.
    """
    if fmt not in ("text", "json"):
        raise ValueError(f"unknown log format {fmt!r}: use text or json")
    number = _parse_level(level)
    handler = _OwnHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(SecretRedactor(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        # Handlers someone else installed (pytest's capture, a host app's) are theirs to close.
        if isinstance(old, _OwnHandler):
            old.close()
    root.addHandler(handler)
    root.setLevel(number)
    _quiet_third_parties(number)


def _quiet_third_parties(level: int) -> None:
    # max(): never let a library talk below the level the operator asked for.
    debug = level <= logging.DEBUG
    for name in _QUIET_UNLESS_DEBUG:
        logging.getLogger(name).setLevel(logging.NOTSET if debug else max(level, logging.WARNING))
    for name in _QUIET_ALWAYS:
        logging.getLogger(name).setLevel(max(level, logging.INFO))
    logging.getLogger("aiohttp.access").setLevel(max(level, logging.INFO))
