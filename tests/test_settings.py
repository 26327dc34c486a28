"""Settings: defaults, config.toml values, environment overrides, config path precedence, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transcriber.setting_sections import SettingsError
from transcriber.settings import ENV_OVERRIDES, Settings, load_settings, settings_from

REPO_CONFIG = Path(__file__).resolve().parent.parent / "config.toml"
NOWHERE = Path("/nonexistent-base-dir")


def attr(settings: Settings, dotted: str) -> Any:
    value: Any = settings
    for name in dotted.split("."):
        value = getattr(value, name)
    return value


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- defaults and file values ----------------------------------------------------------------


def test_defaults_without_file_or_environment(tmp_path: Path) -> None:
    settings = settings_from({}, {}, base_dir=tmp_path)
    assert settings.server.host == "127.0.0.1"
    assert settings.server.port == 8002
    assert settings.server.api_keys == ()
    assert settings.whisper.model == "base"
    assert settings.whisper.device == "cpu"
    assert settings.whisper.compute_type == "int8"
    assert settings.whisper.fast_mode is False
    assert settings.whisper.workers == 0
    assert settings.limits.max_upload_mb == 2048
    assert settings.limits.max_audio_seconds == 14400
    assert settings.queue.capacity == 1000
    assert settings.queue.max_attempts == 2
    assert settings.summarizer.redis_url is None
    assert settings.data_dir == tmp_path / "data"
    assert settings.models_dir == tmp_path / "data" / "models"
    assert settings.max_upload_bytes == 2048 * 1024 * 1024


def test_file_values_are_used(tmp_path: Path) -> None:
    raw = {
        "data_dir": "/srv/transcriber",
        "server": {"host": "127.0.0.1", "port": 9001, "api_keys": ["a", "b"]},
        "whisper": {
            "model": "tiny.en",
            "device": "auto",
            "compute_type": "float16",
            "fast_mode": True,
            "workers": 3,
            "models_dir": "/models",
        },
        "limits": {"max_upload_mb": 10, "max_audio_seconds": 60},
        "queue": {"capacity": 5},
        "logging": {"level": "debug", "format": "json"},
        "summarizer": {"redis_url": "redis://cache:6379/1"},
    }
    settings = settings_from(raw, {}, base_dir=tmp_path)
    assert settings.data_dir == Path("/srv/transcriber")
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 9001)
    assert settings.server.api_keys == ("a", "b")
    assert settings.whisper.model == "tiny.en"
    assert settings.whisper.device == "auto"
    assert settings.whisper.compute_type == "float16"
    assert settings.whisper.fast_mode is True
    assert settings.whisper.workers == 3
    assert settings.models_dir == Path("/models")
    assert settings.limits.max_upload_mb == 10
    assert settings.max_upload_bytes == 10 * 1024 * 1024
    assert settings.limits.max_audio_seconds == 60.0
    assert isinstance(settings.limits.max_audio_seconds, float)
    assert settings.queue.capacity == 5
    assert settings.logging.level == "DEBUG"
    assert settings.logging.format == "json"
    assert settings.summarizer.redis_url == "redis://cache:6379/1"


def test_repo_config_file_loads() -> None:
    settings = load_settings(REPO_CONFIG, environ={})
    assert settings.whisper.model == "base"
    assert settings.server.port == 8002
    assert settings.data_dir == REPO_CONFIG.parent / "data"


# --- environment overrides -------------------------------------------------------------------

# (variable, value in config.toml, value in the environment, settings attribute, expected)
OVERRIDES: list[tuple[str, Any, str, str, Any]] = [
    ("TRANSCRIBE_SERVER_HOST", "10.1.1.1", "127.0.0.1", "server.host", "127.0.0.1"),
    ("TRANSCRIBE_SERVER_PORT", 9000, "8123", "server.port", 8123),
    ("TRANSCRIBER_API_KEYS", ["file-key"], "k1, k2,,k3 ", "server.api_keys", ("k1", "k2", "k3")),
    ("WHISPER_MODEL", "base", "tiny.en", "whisper.model", "tiny.en"),
    ("WHISPER_DEVICE", "cpu", "cuda", "whisper.device", "cuda"),
    ("WHISPER_COMPUTE_TYPE", "int8", "float16", "whisper.compute_type", "float16"),
    ("WHISPER_FAST_MODE", False, "true", "whisper.fast_mode", True),
    ("TRANSCRIBER_WORKERS", 1, "3", "whisper.workers", 3),
    ("TRANSCRIBER_CPU_THREADS", 2, "6", "whisper.cpu_threads", 6),
    ("TRANSCRIBER_MODELS_DIR", "/file/models", "/env/models", "whisper.models_dir", "/env/models"),
    ("WHISPER_MODELS", ["small"], "base,medium", "whisper.models", ("base", "medium")),
    ("WHISPER_MODEL_TTL", 60, "0", "whisper.model_ttl", 0.0),
    ("WHISPER_MAX_LOADED_MODELS", 4, "3", "whisper.max_loaded_models", 3),
    ("TRANSCRIBER_MAX_UPLOAD_MB", 10, "20", "limits.max_upload_mb", 20),
    ("TRANSCRIBER_MAX_AUDIO_SECONDS", 60, "90.5", "limits.max_audio_seconds", 90.5),
    ("TRANSCRIBER_QUEUE_CAPACITY", 5, "7", "queue.capacity", 7),
    ("TRANSCRIBER_LOG_LEVEL", "INFO", "debug", "logging.level", "DEBUG"),
    ("TRANSCRIBER_LOG_FORMAT", "text", "json", "logging.format", "json"),
    ("TRANSCRIBER_ISOLATE_KEYS", False, "true", "server.isolate_keys", True),
    ("TRANSCRIBER_ADMIN_KEYS", ["file-admin"], "ops:a1,a2", "server.admin_keys", ("ops:a1", "a2")),
    ("TRANSCRIBER_TRUSTED_PROXIES", ["10.0.0.1"], "::1, 10.0.0.0/8", "server.trusted_proxies", ("::1", "10.0.0.0/8")),
    ("TRANSCRIBER_MIN_FREE_DISK_MB", 10, "0", "limits.min_free_disk_mb", 0),
    ("TRANSCRIBER_KEEP_DAYS", 30, "7.5", "retention.keep_days", 7.5),
    ("TRANSCRIBER_KEEP_AUDIO", True, "false", "retention.keep_audio", False),
    ("TRANSCRIBER_LEASE_SECONDS", 30, "4.5", "database.lease_seconds", 4.5),
    (
        "DATABASE_URL",
        "postgresql://file/db",
        "postgresql://env:5432/jobs",
        "database.url",
        "postgresql://env:5432/jobs",
    ),
    ("TRANSCRIBER_WEBHOOK_SECRET", "whsec_" + "A" * 32, "whsec_" + "B" * 32, "webhooks.secret", "whsec_" + "B" * 32),
    ("TRANSCRIBER_ALLOW_PRIVATE_URLS", False, "true", "ingest.allow_private_urls", True),
    ("TRANSCRIBER_WATCH_INBOX", "/file/inbox", "/env/inbox", "watch.inbox", "/env/inbox"),
    ("TRANSCRIBER_WATCH_OUTBOX", "/file/outbox", "/env/outbox", "watch.outbox", "/env/outbox"),
]


def test_every_override_variable_is_covered() -> None:
    assert {row[0] for row in OVERRIDES} == set(ENV_OVERRIDES)


@pytest.mark.parametrize("row", OVERRIDES, ids=[row[0] for row in OVERRIDES])
def test_environment_wins_over_file(tmp_path: Path, row: tuple[str, Any, str, str, Any]) -> None:
    var, in_file, in_env, dotted, expected = row
    section, key = ENV_OVERRIDES[var]
    assert dotted == f"{section}.{key}"
    raw = {section: {key: in_file}}
    assert attr(settings_from(raw, {}, base_dir=tmp_path), dotted) != expected
    assert attr(settings_from(raw, {var: in_env}, base_dir=tmp_path), dotted) == expected


def test_empty_environment_value_leaves_file_value(tmp_path: Path) -> None:
    raw = {"server": {"port": 9000}}
    assert settings_from(raw, {"TRANSCRIBE_SERVER_PORT": ""}, base_dir=tmp_path).server.port == 9000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        ("on", True),
        ("false", False),
        ("False", False),
        ("0", False),
        ("no", False),
        ("off", False),
    ],
)
def test_fast_mode_booleans(tmp_path: Path, text: str, expected: bool) -> None:
    raw = {"whisper": {"fast_mode": not expected}}
    settings = settings_from(raw, {"WHISPER_FAST_MODE": text}, base_dir=tmp_path)
    assert settings.whisper.fast_mode is expected


def test_data_dir_from_environment_wins(tmp_path: Path) -> None:
    raw = {"data_dir": "from-file"}
    env = {"TRANSCRIBER_DATA_DIR": str(tmp_path / "from-env")}
    assert settings_from(raw, env, base_dir=tmp_path).data_dir == tmp_path / "from-env"


def test_redis_url_from_environment_wins(tmp_path: Path) -> None:
    raw = {"summarizer": {"redis_url": "redis://file:6379/0"}}
    env = {"REDIS_URL": "redis://env:6380/2"}
    settings = settings_from(raw, env, base_dir=tmp_path)
    assert settings.summarizer.redis_url == "redis://env:6380/2"


def test_load_settings_reads_process_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(tmp_path / "config.toml", "[server]\nport = 9000\n")
    monkeypatch.setenv("TRANSCRIBE_SERVER_PORT", "9100")
    monkeypatch.setenv("WHISPER_MODEL", "tiny.en")
    settings = load_settings(config)
    assert settings.server.port == 9100
    assert settings.whisper.model == "tiny.en"


@given(st.integers(min_value=0, max_value=65535), st.sampled_from(["{}", " {} ", "0{}", "+{}"]))
def test_any_port_string_round_trips(port: int, template: str) -> None:
    env = {"TRANSCRIBE_SERVER_PORT": template.format(port)}
    assert settings_from({}, env, base_dir=NOWHERE).server.port == port


@given(st.integers(max_value=-1))
def test_negative_port_is_rejected(port: int) -> None:
    with pytest.raises(SettingsError, match="TRANSCRIBE_SERVER_PORT"):
        settings_from({}, {"TRANSCRIBE_SERVER_PORT": str(port)}, base_dir=NOWHERE)


# --- which config file -----------------------------------------------------------------------


@pytest.fixture
def three_configs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A config in the cwd, one named by $TRANSCRIBER_CONFIG, one passed explicitly."""
    cwd = tmp_path / "cwd"
    configs = {
        "cwd": write(cwd / "config.toml", "[server]\nport = 1001\n"),
        "env": write(tmp_path / "env" / "env.toml", "[server]\nport = 1002\n"),
        "explicit": write(tmp_path / "explicit" / "mine.toml", "[server]\nport = 1003\n"),
    }
    monkeypatch.chdir(cwd)
    return configs


def test_explicit_path_beats_everything(three_configs: dict[str, Path]) -> None:
    env = {"TRANSCRIBER_CONFIG": str(three_configs["env"])}
    assert load_settings(three_configs["explicit"], environ=env).server.port == 1003


def test_environment_path_beats_cwd_config(three_configs: dict[str, Path]) -> None:
    env = {"TRANSCRIBER_CONFIG": str(three_configs["env"])}
    assert load_settings(None, environ=env).server.port == 1002


def test_cwd_config_is_used_when_nothing_is_named(three_configs: dict[str, Path]) -> None:
    settings = load_settings(None, environ={})
    assert settings.server.port == 1001
    assert settings.data_dir == three_configs["cwd"].parent.resolve() / "data"


def test_defaults_when_no_config_file_exists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(None, environ={})
    assert settings.server.port == 8002
    assert settings.whisper.model == "base"
    assert settings.data_dir == tmp_path.resolve() / "data"


def test_relative_data_dir_is_relative_to_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(tmp_path / "etc" / "config.toml", 'data_dir = "state/jobs"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    settings = load_settings(config, environ={})
    assert settings.data_dir == (tmp_path / "etc").resolve() / "state" / "jobs"
    assert settings.models_dir == settings.data_dir / "models"


def test_absolute_data_dir_is_kept(tmp_path: Path) -> None:
    config = write(tmp_path / "etc" / "config.toml", f'data_dir = "{tmp_path / "abs"}"\n')
    assert load_settings(config, environ={}).data_dir == tmp_path / "abs"


# --- errors ----------------------------------------------------------------------------------

BAD_FILES: list[tuple[dict[str, Any], tuple[str, ...]]] = [
    ({"bogus": {}}, ("bogus",)),
    ({"server": {"prot": 8002}}, ("[server]", "prot")),
    ({"server": 5}, ("[server]",)),
    ({"server": {"port": "eighty"}}, ("[server] port",)),
    ({"server": {"port": True}}, ("[server] port",)),
    ({"server": {"port": 80.5}}, ("[server] port",)),
    ({"server": {"host": 5}}, ("[server] host",)),
    ({"whisper": {"device": "tpu"}}, ("[whisper] device", "tpu")),
    ({"whisper": {"fast_mode": "maybe"}}, ("[whisper] fast_mode",)),
    ({"whisper": {"workers": -1}}, ("[whisper] workers", "negative")),
    ({"limits": {"max_upload_mb": -5}}, ("[limits] max_upload_mb", "negative")),
    ({"limits": {"max_audio_seconds": -1.0}}, ("[limits] max_audio_seconds", "negative")),
    ({"queue": {"capacity": 1.5}}, ("[queue] capacity",)),
    ({"logging": {"level": "LOUD"}}, ("[logging] level",)),
    ({"logging": {"format": "xml"}}, ("[logging] format",)),
    ({"summarizer": {"nope": 1}}, ("summarizer", "nope")),
]


@pytest.mark.parametrize(("raw", "names"), BAD_FILES)
def test_bad_file_values_name_the_key(tmp_path: Path, raw: dict[str, Any], names: tuple[str, ...]) -> None:
    with pytest.raises(SettingsError) as caught:
        settings_from(raw, {}, base_dir=tmp_path)
    for name in names:
        assert name in str(caught.value)


BAD_ENV: list[tuple[str, str]] = [
    ("WHISPER_DEVICE", "tpu"),
    ("TRANSCRIBE_SERVER_PORT", "abc"),
    ("TRANSCRIBE_SERVER_PORT", "-1"),
    ("TRANSCRIBER_WORKERS", "-2"),
    ("TRANSCRIBER_WORKERS", "two"),
    ("WHISPER_FAST_MODE", "maybe"),
    ("TRANSCRIBER_MAX_UPLOAD_MB", "1.5"),
    ("TRANSCRIBER_MAX_UPLOAD_MB", "-1"),
    ("TRANSCRIBER_MAX_AUDIO_SECONDS", "-1"),
    ("TRANSCRIBER_MAX_AUDIO_SECONDS", "long"),
    ("TRANSCRIBER_QUEUE_CAPACITY", "lots"),
    ("TRANSCRIBER_LOG_LEVEL", "chatty"),
    ("REDIS_URL", "http://not-redis:6379"),
    ("DATABASE_URL", "mysql://db/jobs"),
    ("DATABASE_URL", "/var/lib/jobs.db"),
]


@pytest.mark.parametrize(("var", "value"), BAD_ENV)
def test_bad_environment_values_name_the_variable(tmp_path: Path, var: str, value: str) -> None:
    with pytest.raises(SettingsError, match=var):
        settings_from({}, {var: value}, base_dir=tmp_path)


def test_device_error_lists_the_choices(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        settings_from({}, {"WHISPER_DEVICE": "tpu"}, base_dir=tmp_path)
    assert all(choice in str(caught.value) for choice in ("cpu", "cuda", "auto"))


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    config = write(tmp_path / "config.toml", "[server\nport = 1\n")
    with pytest.raises(SettingsError, match="not valid TOML") as caught:
        load_settings(config, environ={})
    assert str(config) in str(caught.value)


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(SettingsError, match="cannot read") as caught:
        load_settings(missing, environ={})
    assert str(missing) in str(caught.value)


def test_missing_file_named_by_environment(tmp_path: Path) -> None:
    missing = tmp_path / "gone.toml"
    with pytest.raises(SettingsError) as caught:
        load_settings(None, environ={"TRANSCRIBER_CONFIG": str(missing)})
    assert str(missing) in str(caught.value)


def test_directory_as_config_file_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read") as caught:
        load_settings(tmp_path, environ={})
    assert str(tmp_path) in str(caught.value)


def test_non_utf8_file_is_a_settings_error(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_bytes(b"\xff\xfe[server]\nport = 1\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(config, environ={})
    assert str(config) in str(caught.value)


def test_non_string_data_dir_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="data_dir"):
        settings_from({"data_dir": 5}, {}, base_dir=tmp_path)


@pytest.mark.parametrize("port", ["65536", "99999"])
def test_port_above_65535_is_rejected(tmp_path: Path, port: str) -> None:
    with pytest.raises(SettingsError, match="TRANSCRIBE_SERVER_PORT"):
        settings_from({}, {"TRANSCRIBE_SERVER_PORT": port}, base_dir=tmp_path)


@pytest.mark.parametrize(
    "secret", ["plain-text", "whsec_", "whsec_not base64!", "whsec_" + "A" * 8, "whsec_" + "A" * 100]
)
def test_a_malformed_webhook_secret_is_refused_without_echoing_it(tmp_path: Path, secret: str) -> None:
    with pytest.raises(SettingsError, match="TRANSCRIBER_WEBHOOK_SECRET") as caught:
        settings_from({}, {"TRANSCRIBER_WEBHOOK_SECRET": secret}, base_dir=tmp_path)
    assert secret == "whsec_" or secret not in str(caught.value)  # the bare prefix is named in the message
    with pytest.raises(SettingsError, match=r"\[webhooks\] secret"):
        settings_from({"webhooks": {"secret": secret}}, {}, base_dir=tmp_path)


def test_webhook_defaults(tmp_path: Path) -> None:
    hooks = settings_from({}, {}, base_dir=tmp_path).webhooks
    assert (hooks.secret, hooks.max_attempts, hooks.allow_private, hooks.timeout_seconds) == ("", 8, False, 10.0)


def test_a_trusted_proxy_that_is_not_an_address_is_refused_at_start() -> None:
    with pytest.raises(SettingsError, match="not an IP address or network"):
        settings_from({"server": {"trusted_proxies": ["proxy.example"]}}, {}, base_dir=Path.cwd())
