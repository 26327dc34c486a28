"""Outbound URL safety: refuse hosts that resolve to non-public addresses, and pin what was checked.

A name is resolved once (off the event loop, with a deadline), every address is checked, and the
connection is then made to exactly those addresses (PinnedResolver), so a DNS answer that changes
between the check and the connect (DNS rebinding) cannot reach an internal service.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeURL(ValueError):
    """The URL cannot be used as a callback target; the message says why."""


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


async def resolve(url: str, *, allow_private: bool, timeout: float) -> Target:
    """Resolve the URL's host and check every address; raises UnsafeURL."""
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
            reason = blocked_reason(address)
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
        infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout)
    except TimeoutError:
        raise UnsafeURL(f"resolving {host} took longer than {timeout:g} s") from None
    except (OSError, UnicodeError) as exc:
        raise UnsafeURL(f"{host} does not resolve ({exc})") from None
    found = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
    if not found:
        raise UnsafeURL(f"{host} does not resolve")
    return found


class PinnedResolver(AbstractResolver):
    """An aiohttp resolver that answers only with the addresses a Target was checked against."""

    def __init__(self, target: Target):
        self._target = target

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host != self._target.host:
            raise OSError(f"{host} is not the checked callback host")
        return [_result(host, address, port or self._target.port) for address in self._target.addresses]

    async def close(self) -> None:
        return None


def _result(host: str, address: str, port: int) -> ResolveResult:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    return ResolveResult(hostname=host, host=address, port=port, family=family, proto=0, flags=socket.AI_NUMERICHOST)
