"""One webhook attempt: sign the body (Standard Webhooks) and POST it to the checked address."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from standardwebhooks import Webhook

from transcriber.notify.urlguard import Target

MAX_RESPONSE_BYTES = 64 * 1024  # a receiver's answer is read this far, never further


@dataclass(frozen=True)
class Attempt:
    """What one POST came to: the HTTP status (None if no answer) and an error sentence."""

    status: int | None
    error: str | None

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def signed_headers(signer: Webhook, webhook_id: str, body: str, now: datetime | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers; the signature covers "{id}.{timestamp}.{body}"."""
    seconds = int((now or datetime.now(UTC)).timestamp())
    moment = datetime.fromtimestamp(seconds, UTC)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(seconds),
        "webhook-signature": signer.sign(webhook_id, moment, body),
    }


async def post(target: Target, signer: Webhook, webhook_id: str, body: str, timeout: float) -> Attempt:
    """POST once: no redirects, no proxies from the environment, one total deadline."""
    headers = {
        **signed_headers(signer, webhook_id, body),
        "Content-Type": "application/json",
        "User-Agent": f"transcriber-webhooks/{version('transcriber')}",
    }
    # The connector resolves only to the addresses netguard checked (no second DNS lookup).
    connector = aiohttp.TCPConnector(resolver=PinnedResolver(target), use_dns_cache=False, force_close=True)
    session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout), trust_env=False)
    try:
        async with session.post(target.url, data=body.encode(), headers=headers, allow_redirects=False) as resp:
            await resp.content.read(MAX_RESPONSE_BYTES)
            if 200 <= resp.status < 300:
                return Attempt(resp.status, None)
            return Attempt(resp.status, f"the receiver answered {resp.status} {resp.reason or ''}".strip())
    except TimeoutError:
        return Attempt(None, f"no answer within {timeout:g} s")
    except (aiohttp.ClientError, OSError) as exc:
        return Attempt(None, f"{type(exc).__name__}: {exc}"[:500])
    finally:
        await session.close()


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
