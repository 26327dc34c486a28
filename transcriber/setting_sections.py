"""The settings' sections, one frozen dataclass per config.toml table, with their defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from summarizer.configfile import ConfigError

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
    isolate_keys: bool = True
    admin_keys: tuple[str, ...] = ()
    header_timeout: float = 30.0
    public_health: bool = False
    # Peers whose X-Forwarded-For names the client (addresses or networks): a reverse proxy.
    trusted_proxies: tuple[str, ...] = ()


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
    # Further models a request may name (API.md "Models"): loaded on first use, unloaded after
    # model_ttl seconds idle (0: kept), at most max_loaded_models in memory, the default included.
    models: tuple[str, ...] = ()
    model_ttl: float = 300.0
    max_loaded_models: int = 2
    # A job this short that runs alone decodes on every core, on a second copy of the model (one
    # replica, all threads); others wait for it. Only with one-thread workers on CPU; 0: off.
    # One window: with 60, eight 58 s clips at once measured 24.4 and 27.7 audio s/s, against 30.6
    # and 28.2 without (bench concurrency, alternating): within the noise, but a job near the limit
    # holds the others back for seconds, and the short clip is what the copy is for.
    wide_max_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.models and self.max_loaded_models < 2:
            raise SettingsError("[whisper] max_loaded_models must be at least 2 when [whisper] models is set")


@dataclass(frozen=True)
class LimitsSettings:
    max_upload_mb: int = 2048
    max_audio_seconds: float = 14400.0
    min_free_disk_mb: int = 1024
    max_concurrent_uploads: int = 16  # 0: no cap
    max_queued_per_key: int = 100  # 0: no cap
    upload_idle_seconds: float = 60.0  # an upload that sends nothing this long is cut off
    # Slower than this on average over the window: 408 upload_too_slow (trickling clients hold slots).
    min_upload_kb_per_second: float = 8.0  # 0: no floor
    upload_rate_window_seconds: float = 30.0
    # Concurrent uploads from one client address (0: no cap). Off by default: behind a proxy that is
    # not in trusted_proxies every client shares the proxy's address.
    max_uploads_per_client: int = 0


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
class IngestSettings:
    """Recordings fetched from a URL and resumable (tus) uploads; README "Getting recordings in"."""

    allow_private_urls: bool = False  # let `url` reach loopback, private and link-local hosts
    connect_seconds: float = 10.0  # one connection to the URL's host
    read_seconds: float = 60.0  # the host sends nothing this long: the fetch is given up
    fetch_seconds: float = 3600.0  # the whole fetch, every redirect and byte included
    max_redirects: int = 5
    page_urls: bool = False  # pages (YouTube and the like) through yt-dlp, if the extra is installed
    tus_expiry_seconds: float = 86400.0  # an unfinished resumable upload untouched this long is removed


@dataclass(frozen=True)
class WatchSettings:
    """The watch folder: files dropped in `inbox` become jobs, results land in `outbox`."""

    inbox: str = ""  # empty: no watch folder
    outbox: str = ""  # empty: <inbox>/out
    settle_seconds: float = 2.0  # a file unchanged this long is complete (not still being copied)


@dataclass(frozen=True)
class LiveSettings:
    """Live transcription sessions (GET /v1/realtime): limits, and whether a session is kept as a job."""

    enabled: bool = True
    max_sessions: int = 4  # at once, over all keys; 0: live transcription is off
    max_sessions_per_key: int = 2  # 0: no per-key cap
    idle_timeout: float = 30.0  # seconds without a client event
    max_session_seconds: float = 3600.0  # wall-clock length of one session
    max_backlog_seconds: float = 30.0  # audio received but not yet transcribed; past it the client is cut off
    max_turn_seconds: float = 20.0  # a longer turn is committed where it stands and goes on as a new item
    first_partial_seconds: float = 0.8  # of a turn before its first partial decode (bench/LIVE.md)
    partial_interval: float = 0.5  # seconds of new speech between partial decodes
    workers: int = 2  # model replicas for live decoding, apart from the file workers'; two sessions decode at once
    cpu_threads: int = 0  # per replica; 0: every core (the live lane runs at normal CPU priority)
    beam_size: int = 1  # greedy: latency first
    keep: bool = True  # save each finished session as a job (audio, transcript, summary)


@dataclass(frozen=True)
class OutputSettings:
    """Readable subtitles: srt/vtt cues of at most max_lines lines of max_line_chars, max_cue_seconds long."""

    max_line_chars: int = 42
    max_lines: int = 2
    max_cue_seconds: float = 7.0

    def __post_init__(self) -> None:
        if self.max_line_chars < 1 or self.max_lines < 1 or not self.max_cue_seconds > 0:
            raise SettingsError("[output] max_line_chars, max_lines and max_cue_seconds must be positive")
