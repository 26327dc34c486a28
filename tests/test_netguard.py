"""Outbound URL safety (netguard) and the signing of one delivery, without a job in between."""

from __future__ import annotations

from datetime import UTC, datetime

import aiohttp
import pytest
from standardwebhooks import Webhook

from tests.webhook_receiver import Receiver
from transcriber.notify import urlguard
from transcriber.notify.delivery import PinnedResolver, signed_headers

BLOCKED = {
    "127.0.0.1": "loopback",
    "127.9.9.9": "loopback",
    "::1": "loopback",
    "::ffff:127.0.0.1": "loopback",
    "10.0.0.1": "private",
    "172.16.5.4": "private",
    "192.168.0.1": "private",
    "::ffff:10.0.0.1": "private",
    "fc00::1": "private",
    "169.254.169.254": "private",
    "fe80::1%eth0": "private",
    "0.0.0.0": "private",
    "::": "private",
    "224.0.0.251": "multicast",
    "ff02::1": "multicast",
    "240.0.0.1": "private",
    "100.64.0.1": "not globally routable",
}
PUBLIC = ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", sorted(BLOCKED))
def test_non_public_addresses_are_blocked(address: str) -> None:
    assert urlguard.blocked_reason(address) is not None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert urlguard.blocked_reason(address) is None


async def test_a_public_literal_passes_and_is_pinned_as_is() -> None:
    target = await urlguard.resolve("https://8.8.8.8/hook?x=1", allow_private=False, timeout=1)
    assert (target.host, target.port, target.addresses) == ("8.8.8.8", 443, ("8.8.8.8",))


@pytest.mark.parametrize("url", ["http://localhost:8000/x", "http://[::ffff:192.168.1.1]/", "http://127.1/"])
async def test_names_and_literals_are_checked_after_resolution(url: str) -> None:
    with pytest.raises(urlguard.UnsafeURL, match="resolves to"):
        await urlguard.resolve(url, allow_private=False, timeout=5)
    assert (await urlguard.resolve(url, allow_private=True, timeout=5)).addresses


async def test_an_unresolvable_name_is_refused() -> None:
    with pytest.raises(urlguard.UnsafeURL, match="does not resolve"):
        await urlguard.resolve("http://no-such-host.invalid/x", allow_private=True, timeout=5)


async def test_the_connection_goes_to_the_checked_address_only() -> None:
    """A name that no DNS knows reaches the receiver: aiohttp asked our pinned answer, not DNS."""
    receiver = Receiver(204)
    await receiver.start()
    try:
        checked = urlguard.Target(
            url=None,  # type: ignore[arg-type]  # the resolver needs only host, port and addresses
            host="hook.invalid",
            port=receiver.port,
            addresses=("127.0.0.1",),
        )
        connector = aiohttp.TCPConnector(resolver=PinnedResolver(checked), use_dns_cache=False)
        async with aiohttp.ClientSession(connector=connector) as session:
            async with session.post(f"http://hook.invalid:{receiver.port}/hook", data=b"{}") as resp:
                assert resp.status == 204
            with pytest.raises(aiohttp.ClientConnectorError):
                await session.get(f"http://other.invalid:{receiver.port}/")
        assert [r.path for r in receiver.received] == ["/hook"]
    finally:
        await receiver.stop()


def test_signature_matches_the_specs_published_example() -> None:
    # The test vector from the Standard Webhooks reference implementations.
    signer = Webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    headers = signed_headers(
        signer, "msg_p5jXN8AQM9LWM0D4loKWxJek", '{"test": 2432232314}', datetime.fromtimestamp(1614265330, UTC)
    )
    assert headers == {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
