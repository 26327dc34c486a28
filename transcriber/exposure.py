"""Whether the listen address reaches beyond this machine, and the start-up warning when it is open."""

from __future__ import annotations

import ipaddress
import logging

from transcriber.settings import ServerSettings

log = logging.getLogger(__name__)
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    if host.strip().lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name or "" (every interface): assume it is reachable


def warn_if_exposed(host: str, server: ServerSettings) -> bool:
    """Log a WARNING when the server listens beyond loopback without API keys; True if it did."""
    if is_loopback(host) or server.api_keys or server.admin_keys:
        return False
    log.warning(
        "listening on %s without API keys: anyone who can reach port %d can upload, read every "
        "transcript and delete jobs; set TRANSCRIBER_API_KEYS (docs/security.md)",
        host or "every interface",
        server.port,
    )
    return True
