"""Typed settings: config.toml first, then the environment variables named in API.md on top."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

from summarizer.config import SummarizerSettings, summarizer_settings_from
from summarizer.configfile import ConfigError, load_config
from transcriber.setting_values import coerce

Device = Literal["cpu", "cuda", "auto"]
LogFormat = Literal["text", "json"]


# One error type for every configuration problem, server and worker alike.
SettingsError = ConfigError


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"  # closed by default; the container images set 0.0.0.0 explicitly
    port: int = 8002
    api_keys: tuple[str, ...] = ()
    shutdown_timeout: float = 30.0
    upload_timeout: float = 3600.0
    # Security (docs/security.md): per-key job isolation, keys that see every job, the time a
    # client gets to send its request headers, and whether /health shows details without a key.
    isolate_keys: bool = False
    admin_keys: tuple[str, ...] = ()
    header_timeout: float = 30.0
    public_health: bool = False


@dataclass(frozen=True)
class WhisperSettings:
    model: str = "base"
    device: Device = "cpu"
    compute_type: str = "int8"
    fast_mode: bool = False
    workers: int = 0  # 0: derived from cores and device
    cpu_threads: int = 0  # 0: derived from cores and workers
    beam_size: int = 5
    batch_size: int = 8
    # Fast mode decodes greedily: measured on 5 min of English with base, beam 1 in batches of 8
    # is as accurate as beam 5 (WER 0.5% vs 0.9%) at a fraction of the cost.
    fast_beam_size: int = 1
    chunk_seconds: float = 0.0  # 0: 600 s (bounded memory on long audio)
    models_dir: str = ""  # empty: <data_dir>/models


@dataclass(frozen=True)
class LimitsSettings:
    max_upload_mb: int = 2048
    max_audio_seconds: float = 14400.0
    min_free_disk_mb: int = 1024
    max_concurrent_uploads: int = 16  # 0: no cap
    max_queued_per_key: int = 100  # 0: no cap
    upload_idle_seconds: float = 60.0  # an upload that sends nothing this long is cut off


@dataclass(frozen=True)
class QueueSettings:
    capacity: int = 1000
    max_attempts: int = 2
    stall_seconds: float = 120.0
    # A job that makes no progress for max(min, factor x its audio length) is failed as `timeout`.
    job_timeout_factor: float = 0.5
    job_timeout_min_seconds: float = 600.0


@dataclass(frozen=True)
class RetentionSettings:
    keep_days: float = 0.0  # 0: keep finished jobs forever
    keep_audio: bool = True  # false: the upload is deleted once its job ends
    prune_interval_seconds: float = 3600.0


@dataclass(frozen=True)
class LoggingSettings:
    level: str = "INFO"
    format: LogFormat = "text"


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = ""  # empty: SQLite at <data_dir>/jobs.db; postgresql://...: shared by many servers
    lease_seconds: float = 30.0  # PostgreSQL: a dead server's running jobs run again after this


@dataclass(frozen=True)
class WebhookSettings:
    secret: str = ""  # whsec_<base64>; empty: generated once into <data_dir>/webhook_secret
    max_attempts: int = 8
    allow_private: bool = False  # let callback URLs reach loopback, private and link-local hosts
    timeout_seconds: float = 10.0
    retry_seconds: float = 5.0  # first retry delay; doubles per attempt (with jitter), at most 6 h


@dataclass(frozen=True)
class OutputSettings:
    """Readable subtitles: srt/vtt cues of at most max_lines lines of max_line_chars, max_cue_seconds long."""

    max_line_chars: int = 42
    max_lines: int = 2
    max_cue_seconds: float = 7.0

    def __post_init__(self) -> None:
        if self.max_line_chars < 1 or self.max_lines < 1 or not self.max_cue_seconds > 0:
            raise SettingsError("[output] max_line_chars, max_lines and max_cue_seconds must be positive")


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
    "TRANSCRIBER_MAX_UPLOAD_MB": ("limits", "max_upload_mb"),
    "TRANSCRIBER_MAX_AUDIO_SECONDS": ("limits", "max_audio_seconds"),
    "TRANSCRIBER_QUEUE_CAPACITY": ("queue", "capacity"),
    "TRANSCRIBER_ISOLATE_KEYS": ("server", "isolate_keys"),
    "TRANSCRIBER_ADMIN_KEYS": ("server", "admin_keys"),
    "TRANSCRIBER_MIN_FREE_DISK_MB": ("limits", "min_free_disk_mb"),
    "TRANSCRIBER_KEEP_DAYS": ("retention", "keep_days"),
    "TRANSCRIBER_KEEP_AUDIO": ("retention", "keep_audio"),
    "TRANSCRIBER_LOG_LEVEL": ("logging", "level"),
    "TRANSCRIBER_LOG_FORMAT": ("logging", "format"),
    "DATABASE_URL": ("database", "url"),
    "TRANSCRIBER_LEASE_SECONDS": ("database", "lease_seconds"),
    "TRANSCRIBER_WEBHOOK_SECRET": ("webhooks", "secret"),
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
