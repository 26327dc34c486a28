"""Typed settings: config.toml first, then the environment variables named in API.md on top."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar

from summarizer.config import SummarizerSettings, summarizer_settings_from
from summarizer.configfile import load_config
from transcriber.setting_sections import (
    DatabaseSettings,
    IngestSettings,
    LimitsSettings,
    LiveSettings,
    LoggingSettings,
    OutputSettings,
    QueueSettings,
    RetentionSettings,
    ServerSettings,
    SettingsError,
    WatchSettings,
    WebhookSettings,
    WhisperSettings,
)
from transcriber.setting_values import coerce


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    server: ServerSettings = field(default_factory=ServerSettings)
    whisper: WhisperSettings = field(default_factory=WhisperSettings)
    limits: LimitsSettings = field(default_factory=LimitsSettings)
    queue: QueueSettings = field(default_factory=QueueSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    summarizer: SummarizerSettings = field(default_factory=SummarizerSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    watch: WatchSettings = field(default_factory=WatchSettings)
    live: LiveSettings = field(default_factory=LiveSettings)
    output: OutputSettings = field(default_factory=OutputSettings)

    @property
    def models_dir(self) -> Path:
        return Path(self.whisper.models_dir) if self.whisper.models_dir else self.data_dir / "models"

    @property
    def max_upload_bytes(self) -> int:
        return self.limits.max_upload_mb * 1024 * 1024


# environment variable -> (section, key); API.md fixes these names.
ENV_OVERRIDES: dict[str, tuple[str, str]] = {
    "TRANSCRIBE_SERVER_HOST": ("server", "host"),
    "TRANSCRIBE_SERVER_PORT": ("server", "port"),
    "TRANSCRIBER_API_KEYS": ("server", "api_keys"),
    "WHISPER_MODEL": ("whisper", "model"),
    "WHISPER_DEVICE": ("whisper", "device"),
    "WHISPER_COMPUTE_TYPE": ("whisper", "compute_type"),
    "WHISPER_FAST_MODE": ("whisper", "fast_mode"),
    "TRANSCRIBER_WORKERS": ("whisper", "workers"),
    "TRANSCRIBER_CPU_THREADS": ("whisper", "cpu_threads"),
    "TRANSCRIBER_MODELS_DIR": ("whisper", "models_dir"),
    "WHISPER_MODELS": ("whisper", "models"),
    "WHISPER_MODEL_TTL": ("whisper", "model_ttl"),
    "WHISPER_MAX_LOADED_MODELS": ("whisper", "max_loaded_models"),
    "TRANSCRIBER_MAX_UPLOAD_MB": ("limits", "max_upload_mb"),
    "TRANSCRIBER_MAX_AUDIO_SECONDS": ("limits", "max_audio_seconds"),
    "TRANSCRIBER_QUEUE_CAPACITY": ("queue", "capacity"),
    "TRANSCRIBER_ISOLATE_KEYS": ("server", "isolate_keys"),
    "TRANSCRIBER_ADMIN_KEYS": ("server", "admin_keys"),
    "TRANSCRIBER_TRUSTED_PROXIES": ("server", "trusted_proxies"),
    "TRANSCRIBER_MIN_FREE_DISK_MB": ("limits", "min_free_disk_mb"),
    "TRANSCRIBER_KEEP_DAYS": ("retention", "keep_days"),
    "TRANSCRIBER_KEEP_AUDIO": ("retention", "keep_audio"),
    "TRANSCRIBER_LOG_LEVEL": ("logging", "level"),
    "TRANSCRIBER_LOG_FORMAT": ("logging", "format"),
    "DATABASE_URL": ("database", "url"),
    "TRANSCRIBER_LEASE_SECONDS": ("database", "lease_seconds"),
    "TRANSCRIBER_WEBHOOK_SECRET": ("webhooks", "secret"),
    "TRANSCRIBER_ALLOW_PRIVATE_URLS": ("ingest", "allow_private_urls"),
    "TRANSCRIBER_WATCH_INBOX": ("watch", "inbox"),
    "TRANSCRIBER_WATCH_OUTBOX": ("watch", "outbox"),
}

_SECTIONS: dict[str, type[Any]] = {
    "server": ServerSettings,
    "whisper": WhisperSettings,
    "limits": LimitsSettings,
    "queue": QueueSettings,
    "retention": RetentionSettings,
    "logging": LoggingSettings,
    "database": DatabaseSettings,
    "webhooks": WebhookSettings,
    "ingest": IngestSettings,
    "watch": WatchSettings,
    "live": LiveSettings,
    "output": OutputSettings,
}

T = TypeVar("T")


def load_settings(config_path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from the config file (explicit, $TRANSCRIBER_CONFIG, ./config.toml) and env."""
    env = os.environ if environ is None else environ
    raw, path = load_config(env, config_path)
    return settings_from(raw, env, base_dir=path.resolve().parent if path else Path.cwd())


def settings_from(raw: Mapping[str, Any], env: Mapping[str, str], base_dir: Path) -> Settings:
    """Build settings from a parsed TOML document plus environment overrides."""
    unknown = set(raw) - {*_SECTIONS, "summarizer", "data_dir"}
    if unknown:
        raise SettingsError(f"unknown config section(s): {', '.join(sorted(unknown))}")
    sections = {name: _section(name, raw.get(name, {}), env) for name in _SECTIONS}
    file_dir = raw.get("data_dir", "data")
    if not isinstance(file_dir, str) or not file_dir.strip():
        raise SettingsError(f"data_dir: expected a folder path, got {file_dir!r}")
    data_dir = Path(env.get("TRANSCRIBER_DATA_DIR") or file_dir)
    if not data_dir.is_absolute() and "TRANSCRIBER_DATA_DIR" not in env:
        data_dir = base_dir / data_dir
    try:
        summarizer = summarizer_settings_from(raw.get("summarizer", {}), env)
    except ValueError as exc:
        raise SettingsError(f"[summarizer] {exc}") from exc
    return Settings(data_dir=data_dir, summarizer=summarizer, **sections)


def _section(name: str, table: Any, env: Mapping[str, str]) -> Any:
    cls = _SECTIONS[name]
    if not isinstance(table, dict):
        raise SettingsError(f"[{name}] must be a table")
    known = {f.name: f for f in fields(cls)}
    unknown = set(table) - set(known)
    if unknown:
        raise SettingsError(f"unknown key(s) in [{name}]: {', '.join(sorted(unknown))}")
    values = {key: coerce(name, key, val, known[key].type) for key, val in table.items()}
    for var, (section, key) in ENV_OVERRIDES.items():
        if section == name and env.get(var, "") != "":
            values[key] = coerce(name, key, env[var], known[key].type, source=var)
    return replace(cls(), **values)
