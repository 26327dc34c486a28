"""One setting's value from TOML or the environment, converted to its field's type and checked."""

from __future__ import annotations

import ipaddress
import math
from typing import Any

from summarizer.configfile import ConfigError
from transcriber import whsec

MAX_PORT = 65535
DATABASE_SCHEMES = ("postgresql://", "postgres://")
_CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("whisper", "device"): ("cpu", "cuda", "auto"),
    ("logging", "format"): ("text", "json"),
    ("logging", "level"): ("DEBUG", "INFO", "WARNING", "ERROR"),
}


def coerce(section: str, key: str, value: Any, typ: Any, source: str = "") -> Any:
    where = source or f"[{section}] {key}"
    try:
        result = _convert(value, str(typ))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    if (section, key) == ("logging", "level"):
        result = str(result).upper()
    choices = _CHOICES.get((section, key))
    if choices and result not in choices:
        raise ConfigError(f"{where}: {value!r} is not one of {', '.join(choices)}")
    if isinstance(result, float) and not math.isfinite(result):
        raise ConfigError(f"{where}: must be a finite number")
    if isinstance(result, int | float) and not isinstance(result, bool) and result < 0:
        raise ConfigError(f"{where}: must not be negative")
    if (section, key) == ("database", "url") and result and not str(result).startswith(DATABASE_SCHEMES):
        raise ConfigError(f"{where}: expected a postgresql:// URL (or nothing for SQLite)")
    if (section, key) == ("webhooks", "secret") and result and not whsec.is_valid(result):
        raise ConfigError(f"{where}: expected whsec_ followed by base64 (24 to 64 random bytes)")
    if (section, key) == ("server", "trusted_proxies"):
        for entry in result:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ConfigError(f"{where}: {entry!r} is not an IP address or network") from None
    if (section, key) == ("server", "port") and result > MAX_PORT:
        raise ConfigError(f"{where}: {result} is not a TCP port (0-{MAX_PORT})")
    return result


def _convert(value: Any, typ: str) -> Any:
    if typ == "bool":
        return _to_bool(value)
    if typ == "int":
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(f"{value!r} is not an integer")
        return int(value)
    if typ == "float":
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a number")
        return float(value)
    if typ.startswith("tuple"):
        items = value.split(",") if isinstance(value, str) else list(value)
        return tuple(str(i).strip() for i in items if str(i).strip())
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a string")
    return value


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{value!r} is not true or false")
