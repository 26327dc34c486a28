"""OpenAI's Realtime transcription protocol: client events read (GA and beta shapes), server events shaped."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import replace
from typing import Any

from transcriber.jobs.live_session import SessionConfig
from transcriber.speech.live_audio import RATES
from transcriber.speech.live_vad import TurnDetection

GA_UPDATE = "session.update"
BETA_UPDATE = "transcription_session.update"
AUDIO_EVENTS = ("input_audio_buffer.append", "input_audio_buffer.commit", "input_audio_buffer.clear")
CLIENT_EVENTS = (GA_UPDATE, BETA_UPDATE, *AUDIO_EVENTS)
BETA_FORMATS = {"pcm16": 24000}


class ProtocolError(Exception):
    """A client event the session cannot use; it becomes an `error` event with this code."""

    def __init__(self, code: str, message: str, param: str | None = None, event_id: str | None = None):
        super().__init__(message)
        self.code, self.message, self.param, self.event_id = code, message, param, event_id


def event_id() -> str:
    return "event_" + uuid.uuid4().hex[:20]


def error_event(code: str, message: str, param: str | None = None, client_event: str | None = None) -> dict[str, Any]:
    error = {"type": "invalid_request_error", "code": code, "message": message, "param": param}
    return {"type": "error", "error": {**error, "event_id": client_event}}


def parse_event(raw: str | bytes) -> dict[str, Any]:
    """A client event: a JSON object with a known `type`."""
    try:
        event = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ProtocolError("invalid_json", "The event is not valid JSON.") from None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise ProtocolError("invalid_event", "An event must be a JSON object with a string 'type'.")
    if event["type"] not in CLIENT_EVENTS:
        known = ", ".join(CLIENT_EVENTS)
        message = f"Unknown event type {event['type'][:60]!r}; a transcription session takes {known}."
        raise ProtocolError("unknown_event", message, "type", _client_id(event))
    return event


def _client_id(event: dict[str, Any]) -> str | None:
    value = event.get("event_id")
    return value if isinstance(value, str) else None


def audio_bytes(event: dict[str, Any]) -> bytes:
    """The PCM16 bytes of an input_audio_buffer.append."""
    audio = event.get("audio")
    if not isinstance(audio, str):
        raise ProtocolError("invalid_audio", "'audio' must be a base64 string of PCM16 samples.", "audio")
    try:
        return base64.b64decode(audio, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError("invalid_audio", "'audio' is not valid base64.", "audio", _client_id(event)) from None


def session_config(event: dict[str, Any], current: SessionConfig) -> SessionConfig:
    """The session after a session.update (GA) or transcription_session.update (beta); unset fields stay."""
    session = event.get("session", {})
    if not isinstance(session, dict):
        raise ProtocolError("invalid_value", "'session' must be an object.", "session")
    if event["type"] == GA_UPDATE:
        if session.get("type", "transcription") != "transcription":
            raise ProtocolError("invalid_value", "This endpoint serves transcription sessions only.", "session.type")
        audio_in = _object(_object(session, "audio", "session"), "input", "session.audio")
        where = "session.audio.input"
        config = _rate(_object(audio_in, "format", where), current, f"{where}.format")
        config = _transcription(_object(audio_in, "transcription", where), config, f"{where}.transcription")
        return _detection(audio_in, config, where)
    config = current
    if "input_audio_format" in session:
        fmt = session["input_audio_format"]
        if fmt not in BETA_FORMATS:
            raise ProtocolError("invalid_value", "input_audio_format must be 'pcm16'.", "session.input_audio_format")
        config = replace(config, rate=BETA_FORMATS[fmt])
    where = "session.input_audio_transcription"
    config = _transcription(_object(session, "input_audio_transcription", "session"), config, where)
    return _detection(session, config, "session")


def _object(parent: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = parent.get(key) or {}
    if not isinstance(value, dict):
        raise ProtocolError("invalid_value", f"'{key}' must be an object.", f"{where}.{key}")
    return value


def _rate(fmt: dict[str, Any], config: SessionConfig, where: str) -> SessionConfig:
    if not fmt:
        return config
    if fmt.get("type", "audio/pcm") != "audio/pcm":
        raise ProtocolError("invalid_value", "Only audio/pcm (PCM16, mono) is supported.", f"{where}.type")
    rate = fmt.get("rate", 24000)
    if rate not in RATES:
        raise ProtocolError("invalid_value", "rate must be 24000 or 16000.", f"{where}.rate")
    return replace(config, rate=int(rate))


def _transcription(given: dict[str, Any], config: SessionConfig, where: str) -> SessionConfig:
    for key in ("model", "language", "prompt"):
        if key in given and given[key] is not None and not isinstance(given[key], str):
            raise ProtocolError("invalid_value", f"'{key}' must be a string.", f"{where}.{key}")
    language = given.get("language", config.language)
    prompt = given.get("prompt")
    return replace(
        config,
        model=given.get("model") or config.model,
        language=(language or "").strip().lower() or None,
        prompt=str(prompt) if prompt is not None else config.prompt,
    )


def _detection(parent: dict[str, Any], config: SessionConfig, where: str) -> SessionConfig:
    if "turn_detection" not in parent:
        return config
    given, where = parent["turn_detection"], f"{where}.turn_detection"
    if given is None:
        return replace(config, detection=None)
    if not isinstance(given, dict) or given.get("type", "server_vad") != "server_vad":
        raise ProtocolError("invalid_value", "turn_detection must be null or of type 'server_vad'.", where)
    base = config.detection or TurnDetection()
    threshold = given.get("threshold", base.threshold)
    padding = given.get("prefix_padding_ms", base.prefix_padding_ms)
    silence = given.get("silence_duration_ms", base.silence_duration_ms)
    if not _number(threshold, 0.0, 1.0):
        raise ProtocolError("invalid_value", "threshold must be a number from 0 to 1.", f"{where}.threshold")
    for name, value in (("prefix_padding_ms", padding), ("silence_duration_ms", silence)):
        if not _number(value, 0, 10000):
            raise ProtocolError("invalid_value", f"{name} must be from 0 to 10000.", f"{where}.{name}")
    return replace(config, detection=TurnDetection(float(threshold), int(padding), int(silence)))


def _number(value: Any, low: float, high: float) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high


def session_object(session_id: str, config: SessionConfig) -> dict[str, Any]:
    """The session as session.created / session.updated show it (the GA shape)."""
    d = config.detection
    detection = None if d is None else {"type": "server_vad", **d.__dict__}
    transcription = {"model": config.model or "whisper-1", "language": config.language, "prompt": config.prompt}
    audio_in = {"format": {"type": "audio/pcm", "rate": config.rate}, "transcription": transcription}
    return {
        "type": "transcription",
        "object": "realtime.transcription_session",
        "id": session_id,
        "audio": {"input": {**audio_in, "turn_detection": detection}},
    }
