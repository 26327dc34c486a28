"""The webhook signing secret: its `whsec_<base64>` format, and the one generated on first start."""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path

PREFIX = "whsec_"
FILE_NAME = "webhook_secret"
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


def load_or_create(data_dir: Path) -> tuple[str, bool]:
    """(secret, created): the secret stored in the data directory, made (mode 0600) if missing.

    Blocking file I/O: call it in a thread.
    """
    path = data_dir / FILE_NAME
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_text(encoding="ascii", errors="replace").strip()
        try:
            key_bytes(secret)  # a damaged file must stop the webhooks, not sign with garbage
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}; delete the file to generate a new secret") from None
        return secret, False
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(new_secret() + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return path.read_text(encoding="ascii").strip(), True
