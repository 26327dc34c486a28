"""How the server faces the network: the warning when it is open, and the protocol options for hostile clients."""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from aiohttp.http_exceptions import HttpProcessingError

from transcriber.setting_sections import ServerSettings

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


def protocol_options(server: ServerSettings) -> dict[str, Any]:
    """aiohttp server options: a header-read deadline, and request bodies never inflated.

    aiohttp's keep-alive timer runs from the moment a connection opens until a request's headers
    are complete, so it is the deadline a client sending headers slowly cannot stretch. Without
    auto_decompress a gzip body is refused (415) instead of inflated past the byte limit, and a
    broken one cannot make the protocol log a traceback while it drains the body.
    """
    return {"keepalive_timeout": server.header_timeout, "auto_decompress": False}


class ProtocolErrorFilter(logging.Filter):
    """aiohttp logs every request that is not valid HTTP as an ERROR with a traceback; a client
    controls that, so it becomes one WARNING line (no traceback, no request bytes)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            reason = str(exc.message).splitlines()[0][:120] if exc.message else type(exc).__name__
            record.msg, record.args = "refused a malformed HTTP request (%s %s)", (exc.code, reason)
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def quiet_protocol_errors() -> None:
    """Install the filter on aiohttp's server logger (idempotent)."""
    logger = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, ProtocolErrorFilter) for f in logger.filters):
        logger.addFilter(ProtocolErrorFilter())
