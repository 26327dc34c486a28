"""API keys as identities: the key id stored as a job's owner, admin keys, and who sees which job."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from transcriber.setting_sections import ServerSettings

# `name:secret` gives a key a readable id; the name never contains the secret's characters.
_NAMED = re.compile(r"([A-Za-z0-9_.-]{1,64}):(.+)")
KEY_ID_HEX = 12


@dataclass(frozen=True)
class Key:
    secret: str
    key_id: str
    admin: bool


@dataclass(frozen=True)
class Caller:
    """Who sent a request: the key id stored as owner (None without keys) and whether it sees all."""

    key_id: str | None
    sees_all: bool

    @property
    def scope(self) -> str | None:
        """The owner whose jobs this caller is limited to; None: every job."""
        return None if self.sees_all else self.key_id


OPEN = Caller(None, True)  # no keys configured: the service is open and everyone sees everything


def key_id_of(secret: str) -> str:
    """A stable, non-reversible id for an unnamed key: 12 hex characters of its SHA-256."""
    return "key-" + hashlib.sha256(secret.encode()).hexdigest()[:KEY_ID_HEX]


def parse_key(entry: str, *, admin: bool) -> Key:
    named = _NAMED.fullmatch(entry)
    if named:
        return Key(named.group(2), named.group(1), admin)
    return Key(entry, key_id_of(entry), admin)


def secrets_of(server: ServerSettings) -> tuple[str, ...]:
    """Every key's secret part, for the log redactor."""
    entries = (*server.api_keys, *server.admin_keys)
    return tuple(parse_key(e, admin=False).secret for e in entries) + entries


class Keyring:
    """The configured keys; identify() compares a token with every key in constant time."""

    def __init__(self, server: ServerSettings):
        self._keys = [parse_key(k, admin=False) for k in server.api_keys]
        self._keys += [parse_key(k, admin=True) for k in server.admin_keys]
        self._isolate = server.isolate_keys

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def identify(self, token: str) -> Caller | None:
        """The caller a bearer token belongs to, or None if it matches no key."""
        found: Key | None = None
        for key in self._keys:  # no early exit: the time taken does not say which key matched
            # a key listed as both plain and admin is an admin (API.md, "Changed defaults")
            if hmac.compare_digest(token.encode(), key.secret.encode()) and (found is None or key.admin):
                found = key
        if found is None:
            return None
        return Caller(found.key_id, found.admin or not self._isolate)
