"""Fetching a recording from a URL: checked hosts, pinned connections, every redirect re-checked."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from importlib.metadata import version
from pathlib import Path

import aiohttp
from yarl import URL

from transcriber.domain.options import MAX_URL_CHARS
from transcriber.errors import BadRequest, Code, PayloadTooLarge, UnsupportedMedia
from transcriber.jobs.admission import disk_full_error
from transcriber.jobs.outage import free_bytes, is_disk_full
from transcriber.jobs.upload_files import Spool, Upload
from transcriber.notify import urlguard
from transcriber.notify.delivery import PinnedResolver
from transcriber.settings import Settings
from transcriber.web import page_media

log = logging.getLogger(__name__)
READ_CHUNK = 256 * 1024
REDIRECTS = frozenset({301, 302, 303, 307, 308})
HTML = frozenset({"text/html", "application/xhtml+xml"})
RESOLVE_TIMEOUT = 5.0
USER_AGENT = f"transcriber/{version('transcriber')}"


@dataclass(frozen=True)
class FetchLimits:
    """How far one fetch may go: bytes, timeouts (s), redirects, and which addresses it may reach."""

    max_bytes: int
    connect: float
    read: float
    total: float
    max_redirects: int
    allow_private: bool
    blocked: Callable[[str], str | None] = urlguard.blocked_reason
    min_free_bytes: int = 0
    pages: bool = False  # an HTML answer goes to yt-dlp (web/page_media.py) for the page's audio


@dataclass(frozen=True)
class Fetched:
    size: int
    digest: str
    filename: str | None
    url: str  # where the bytes came from, after redirects


def limits_from(settings: Settings) -> FetchLimits:
    ingest = settings.ingest
    return FetchLimits(
        max_bytes=settings.max_upload_bytes,
        connect=ingest.connect_seconds,
        read=ingest.read_seconds,
        total=min(ingest.fetch_seconds, settings.server.upload_timeout),
        max_redirects=ingest.max_redirects,
        allow_private=ingest.allow_private_urls,
        min_free_bytes=settings.limits.min_free_disk_mb * 1024 * 1024,
        pages=ingest.page_urls,
    )


async def fetch_upload(upload: Upload, settings: Settings) -> None:
    """Fill a form-less Upload (its `url` field given) with the fetched bytes; nothing kept on failure."""
    fetched = await fetch(upload.fields["url"].strip(), upload.path, limits_from(settings))
    upload.size, upload.digest, upload.filename = fetched.size, fetched.digest, fetched.filename
    log.info("fetched %d bytes from %s", fetched.size, _shown(fetched.url))


async def fetch(url: str, path: Path, limits: FetchLimits) -> Fetched:
    """GET url into path (streamed, counted, hashed); BadRequest / PayloadTooLarge with the url_* codes."""
    try:
        async with asyncio.timeout(limits.total):
            try:
                return await _follow(url, path, limits)
            except _Page as page:
                media = await page_media.resolve(
                    page.url, max_bytes=limits.max_bytes, socket_timeout=limits.read, timeout=limits.total
                )
                fetched = await _follow(media.url, path, replace(limits, pages=False), media.headers)
                return replace(fetched, filename=media.filename[:255])
    except TimeoutError:
        raise _unreachable(f"the fetch did not finish within {limits.total:g} s") from None
    except (aiohttp.ClientError, OSError) as exc:
        if is_disk_full(exc):
            raise disk_full_error() from None
        raise _unreachable(f"the connection failed ({type(exc).__name__}: {str(exc)[:200]})") from None


class _Page(Exception):
    """The URL answered with a web page, not a recording."""

    def __init__(self, url: str):
        super().__init__(url)
        self.url = url


async def _follow(url: str, path: Path, limits: FetchLimits, extra: dict[str, str] | None = None) -> Fetched:
    current = checked_url(url)
    for _ in range(limits.max_redirects + 1):
        try:
            target = await urlguard.resolve(
                str(current), allow_private=limits.allow_private, timeout=RESOLVE_TIMEOUT, blocked=limits.blocked
            )
        except urlguard.Unresolvable as exc:
            raise _unreachable(str(exc)) from None
        except urlguard.UnsafeURL as exc:
            raise _not_allowed(str(exc)) from None
        connector = aiohttp.TCPConnector(resolver=PinnedResolver(target), use_dns_cache=False, force_close=True)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=limits.connect, sock_read=limits.read)
        headers = {
            "User-Agent": f"transcriber/{version('transcriber')}",
            **(extra or {}),
            "Accept-Encoding": "identity",
        }
        # No proxies from the environment, no decompression (a small body must not become a huge file).
        async with (
            aiohttp.ClientSession(connector=connector, timeout=timeout, trust_env=False, auto_decompress=False) as s,
            s.get(current, headers=headers, allow_redirects=False) as resp,
        ):
            if resp.status in REDIRECTS and "Location" in resp.headers:
                current = checked_url(str(current.join(URL(resp.headers["Location"]))))
                continue
            if resp.status != 200:
                raise _unreachable(f"{_shown(current)} answered {resp.status} {resp.reason or ''}".strip())
            if resp.content_type in HTML:
                if limits.pages:
                    raise _Page(str(current))
                message = f"{_shown(current)} is a web page, not a recording (see [ingest] page_urls)."
                raise UnsupportedMedia(message, code=Code.NOT_AUDIO)
            return await _save(resp, current, path, limits)
    raise _unreachable(f"more than {limits.max_redirects} redirects")


def checked_url(url: str) -> URL:
    """The URL if its form is acceptable (http/https, a host, a port, no credentials); else 400."""
    if len(url) > MAX_URL_CHARS:
        raise _not_allowed(f"the URL is longer than {MAX_URL_CHARS} characters")
    try:
        parsed = URL(url)
        host, port = parsed.raw_host, parsed.port
    except (ValueError, TypeError):
        raise _not_allowed("the URL is malformed") from None
    if parsed.scheme not in ("http", "https") or not host:
        raise _not_allowed("only http and https URLs with a host can be fetched")
    if parsed.raw_user is not None or parsed.raw_password is not None:
        raise _not_allowed("the URL carries credentials; those are never sent")
    if port is None or not 0 < port <= 65535:
        raise _not_allowed("the URL's port is not a TCP port")
    return parsed


async def _save(resp: aiohttp.ClientResponse, url: URL, path: Path, limits: FetchLimits) -> Fetched:
    declared = resp.content_length
    if declared is not None and declared > limits.max_bytes:
        raise _too_large(limits.max_bytes)
    if limits.min_free_bytes and free_bytes(path.parent) < limits.min_free_bytes + (declared or 0):
        raise disk_full_error()
    spool, size = Spool(path), 0
    await spool.open()
    try:
        async for chunk in resp.content.iter_chunked(READ_CHUNK):
            size += len(chunk)
            if size > limits.max_bytes:
                raise _too_large(limits.max_bytes)
            await spool.add(chunk)
        digest = await spool.finish()
    except BaseException:
        await spool.discard()
        raise
    if size == 0:
        await asyncio.to_thread(path.unlink, missing_ok=True)
        raise BadRequest(f"{_shown(url)} answered with an empty body.", code=Code.EMPTY_FILE)
    return Fetched(size, digest, url.name[:255] or None, str(url))


def _shown(url: URL | str) -> str:
    """The URL for messages and logs: no query string (it may carry a signed token)."""
    return str(URL(str(url)).with_query(None).with_fragment(None))[:300]


def _not_allowed(why: str) -> BadRequest:
    return BadRequest(f"The url is refused: {why}.", code=Code.URL_NOT_ALLOWED)


def _unreachable(why: str) -> BadRequest:
    return BadRequest(f"The url could not be fetched: {why}.", code=Code.URL_UNREACHABLE)


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The recording is larger than the limit of {max_bytes // 2**20} MB.", code=Code.URL_TOO_LARGE
    )
