"""Finding and reading config.toml: the one loader the server and the summarization worker share."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ENV_VAR = "TRANSCRIBER_CONFIG"


class ConfigError(ValueError):
    """A config file or value that cannot be used; the message names it."""


def config_path(environ: Mapping[str, str], explicit: Path | None = None) -> Path | None:
    """--config, else $TRANSCRIBER_CONFIG, else ./config.toml if present, else None (defaults)."""
    if explicit is not None:
        return explicit
    named = environ.get(ENV_VAR, "").strip()
    if named:
        return Path(named)
    local = Path("config.toml")
    return local if local.is_file() else None


def read_config(path: Path, *, named_by_env: bool = False) -> dict[str, Any]:
    """The parsed TOML document; every failure is a ConfigError that names the file."""
    origin = f" (named by {ENV_VAR})" if named_by_env else ""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}{origin}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}{origin} is not valid TOML: {exc}") from exc
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path}{origin} is not UTF-8 text") from None


def load_config(environ: Mapping[str, str], explicit: Path | None = None) -> tuple[dict[str, Any], Path | None]:
    """(document, path): the config file the lookup finds, parsed; ({}, None) when there is none."""
    path = config_path(environ, explicit)
    if path is None:
        return {}, None
    named_by_env = explicit is None and bool(environ.get(ENV_VAR, "").strip())
    return read_config(path, named_by_env=named_by_env), path
