"""Helpers for the tus tests: a tuspy upload run in a thread, raw tus requests, leftovers on disk."""

from __future__ import annotations

import asyncio
import base64
import io
from pathlib import Path
from typing import Any

from tusclient import client as tus_client
from tusclient.storage.filestorage import FileStorage

TUS = {"Tus-Resumable": "1.0.0"}


def metadata(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def tuspy_upload(
    base_url: str,
    path: Path,
    *,
    chunk_size: int,
    stop_at: int | None = None,
    storage: Path | None = None,
    headers: dict[str, str] | None = None,
    **meta: str,
) -> dict[str, Any]:
    """Upload with the real tuspy client (blocking: run it in a thread); returns the last answer's headers.

    With `storage`, tuspy keeps the upload URL under the file's fingerprint and resumes it from
    the server's offset (HEAD) the next time, as after a lost connection or a server restart.
    """
    client = tus_client.TusClient(f"{base_url}/uploads/", headers=headers or {})
    kwargs: dict[str, Any] = {"chunk_size": chunk_size, "metadata": meta, "retries": 0}
    urls = FileStorage(str(storage)) if storage is not None else None  # type: ignore[no-untyped-call]
    if urls is not None:
        kwargs |= {"store_url": True, "url_storage": urls}
    try:
        stream = KeepOpen(path)
        uploader = client.uploader(file_stream=stream, **kwargs)
        uploader.upload(stop_at=stop_at)
        assert uploader.request is not None
        return {"url": uploader.url, "offset": uploader.offset, **uploader.request.response_headers}
    finally:
        stream.really_close()
        if urls is not None:
            urls.close()  # type: ignore[no-untyped-call]


class KeepOpen(io.FileIO):
    """The file for tuspy, which closes the stream it fingerprints and then reads it again."""

    def __init__(self, path: Path):
        super().__init__(path, "rb")

    def close(self) -> None:
        pass

    def really_close(self) -> None:
        super().close()


async def in_thread(*args: Any, **kwargs: Any) -> dict[str, Any]:
    return await asyncio.to_thread(tuspy_upload, *args, **kwargs)


def tus_leftovers(data_dir: Path) -> list[Path]:
    """Files a resumable upload may leave: its own, and the link handed to the job service."""
    folders = [data_dir / "uploads" / ".tus", data_dir / "uploads" / ".incoming"]
    return [p for folder in folders if folder.is_dir() for p in folder.iterdir()]
