"""The `whsec_<base64>` secret format of Standard Webhooks: check a secret, decode it, make one."""

from __future__ import annotations

import base64
import binascii
import secrets

PREFIX = "whsec_"
MIN_BYTES, MAX_BYTES = 24, 64  # the Standard Webhooks spec's range for symmetric keys
NEW_BYTES = 32


def key_bytes(secret: str) -> bytes:
    """The HMAC key: the base64-decoded part after the prefix; ValueError if malformed."""
    if not secret.startswith(PREFIX):
        raise ValueError("the secret must start with whsec_")
    try:
        key = base64.b64decode(secret[len(PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the secret is not base64 after whsec_") from exc
    if not MIN_BYTES <= len(key) <= MAX_BYTES:
        raise ValueError(f"the secret must decode to {MIN_BYTES}-{MAX_BYTES} bytes")
    return key


def is_valid(secret: str) -> bool:
    try:
        key_bytes(secret)
    except ValueError:
        return False
    return True


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(NEW_BYTES)).decode("ascii")
