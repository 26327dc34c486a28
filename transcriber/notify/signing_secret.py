"""The webhook signing secret generated on first start and kept in the data directory."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from transcriber.whsec import key_bytes, new_secret

FILE_NAME = "webhook_secret"
log = logging.getLogger(__name__)


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


async def configured_or_kept(configured: str, data_dir: Path) -> str:
    """The configured secret, else the one kept in the data directory (made on first start)."""
    if configured:
        return configured
    secret, created = await asyncio.to_thread(load_or_create, data_dir)
    if created:
        log.info("generated a webhook signing secret in %s (readable by this user only)", data_dir / FILE_NAME)
    return secret
