"""Outbound URL safety: refuse hosts that resolve to non-public addresses.

A name is resolved once (off the event loop, with a deadline) and every address is checked; the
sender then connects to exactly those addresses (notify.delivery.PinnedResolver), so a DNS answer that
changes between the check and the connect (DNS rebinding) cannot reach an internal service.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass

from yarl import URL

from transcriber.domain.options import parse_callback_url
from transcriber.errors import BadRequest, Code

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
RESOLVE_TIMEOUT = 5.0


class UnsafeURL(ValueError):
    """The URL cannot be used as a callback target; the message says why."""


class Unresolvable(UnsafeURL):
    """The URL's host has no address (or none in time): unreachable rather than forbidden."""


@dataclass(frozen=True)
class Target:
    """A checked URL: its host, port and the addresses a connection may go to."""

    url: URL
    host: str
    port: int
    addresses: tuple[str, ...]


def blocked_reason(address: str) -> str | None:
    """Why a connection to this address is refused, or None for a public address."""
    ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1 to the kernel
    for reason in ("loopback", "private", "link_local", "multicast", "reserved", "unspecified"):
        if getattr(ip, f"is_{reason}"):
            return reason.replace("_", "-")
    if not ip.is_global:  # shared (100.64/10), documentation, 6to4 of private space, ...
        return "not globally routable"
    return None


async def resolve(
    url: str, *, allow_private: bool, timeout: float, blocked: Callable[[str], str | None] = blocked_reason
) -> Target:
    """Resolve the URL's host and check every address with `blocked`; raises UnsafeURL."""
    try:
        parsed = URL(url)
        host, port = parsed.raw_host, parsed.port
    except ValueError:
        raise UnsafeURL("the URL is malformed") from None
    if not host or port is None or parsed.scheme not in ("http", "https"):
        raise UnsafeURL("the URL needs an http or https scheme and a host")
    addresses = await _addresses(host, port, timeout)
    if not allow_private:
        for address in addresses:
            reason = blocked(address)
            if reason is not None:
                raise UnsafeURL(f"{host} resolves to {address}, a {reason} address")
    return Target(parsed, host, port, addresses)


async def _addresses(host: str, port: int, timeout: float) -> tuple[str, ...]:
    try:
        return (str(ipaddress.ip_address(host.strip("[]"))),)
    except ValueError:
        pass  # a name, not a literal address
    loop = asyncio.get_running_loop()
    try:
        # getaddrinfo runs in the loop's default executor, never on the loop itself
        async with asyncio.timeout(timeout):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except TimeoutError:
        raise Unresolvable(f"resolving {host} took longer than {timeout:g} s") from None
    except (OSError, UnicodeError) as exc:
        raise Unresolvable(f"{host} does not resolve ({exc})") from None
    found = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
    if not found:
        raise Unresolvable(f"{host} does not resolve")
    return found


async def check_callback_url(value: str | None, *, allow_private: bool) -> str | None:
    """The callback_url form field, checked where it resolves; BadRequest (400) if refused."""
    url = parse_callback_url(value)
    if url is None:
        return None
    try:
        await resolve(url, allow_private=allow_private, timeout=RESOLVE_TIMEOUT)
    except UnsafeURL as exc:
        raise BadRequest(f"callback_url is refused: {exc}.", code=Code.INVALID_CALLBACK_URL) from None
    return url
