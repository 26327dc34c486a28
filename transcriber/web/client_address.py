"""The client's address for per-client limits: the peer, or X-Forwarded-For behind a trusted proxy."""

from __future__ import annotations

import ipaddress

from aiohttp import hdrs, web

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ClientAddresses:
    """Believes X-Forwarded-For only from [server] trusted_proxies; anyone else could write it."""

    def __init__(self, trusted: tuple[str, ...]):
        self._trusted: tuple[Network, ...] = tuple(ipaddress.ip_network(t, strict=False) for t in trusted)

    def of(self, request: web.Request) -> str:
        peer = request.remote or ""
        if not self._is_trusted(peer):
            return peer
        hops = [hop.strip() for value in request.headers.getall(hdrs.X_FORWARDED_FOR, []) for hop in value.split(",")]
        hops = [hop for hop in hops if hop]
        for hop in reversed(hops):  # from the nearest proxy back: the first address no trusted proxy is
            if not self._is_trusted(hop):
                return hop
        return hops[0] if hops else peer

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._trusted)
