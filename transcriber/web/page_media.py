"""Page URLs (YouTube and the like): yt-dlp, called as a library, names the page's audio; our fetcher gets it."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from transcriber.errors import BadRequest, Code, PayloadTooLarge, UnsupportedMedia

log = logging.getLogger(__name__)
# One progressive http(s) file: never a stream of fragments, which only yt-dlp's downloader can
# fetch (and which would bypass the checked, pinned, size-capped fetcher).
FORMAT = "bestaudio[protocol^=http]/best[protocol^=http]"
PASSED_HEADERS = ("User-Agent", "Accept", "Accept-Language", "Referer")


@dataclass(frozen=True)
class Media:
    """The recording a page points at: its direct URL, the headers the host expects, a file name."""

    url: str
    headers: dict[str, str]
    filename: str


async def resolve(page_url: str, *, max_bytes: int, socket_timeout: float, timeout: float) -> Media:
    """Ask yt-dlp (no download, no shell, no playlist) which file holds the page's audio."""
    try:
        import yt_dlp
    except ImportError:
        message = "The url is a web page; fetching pages needs the 'pages' extra (pip install 'transcriber[pages]')."
        raise UnsupportedMedia(message, code=Code.NOT_AUDIO) from None
    try:
        # The thread cannot be stopped from here; socket_timeout bounds each of its requests.
        info = await asyncio.wait_for(asyncio.to_thread(_extract, yt_dlp, page_url, socket_timeout), timeout)
    except TimeoutError:
        raise _unreachable(f"reading the page took longer than {timeout:g} s") from None
    except yt_dlp.utils.YoutubeDLError as exc:
        raise _unreachable(str(exc).removeprefix("ERROR: ")[:300]) from None
    url = info.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise _unreachable("the page has no single http(s) audio or video file")
    size = info.get("filesize") or info.get("filesize_approx")
    if isinstance(size, int | float) and size > max_bytes:
        raise PayloadTooLarge(
            f"The recording is larger than the limit of {max_bytes // 2**20} MB.", code=Code.URL_TOO_LARGE
        )
    given = info.get("http_headers") or {}
    headers = {k: str(v) for k, v in given.items() if k in PASSED_HEADERS}
    name = f"{str(info.get('title') or 'page')[:200]}.{info.get('ext') or 'media'}"
    log.info("page %s: %s (%s)", page_url[:200], name, info.get("format_id"))
    return Media(url, headers, name)


def _extract(yt_dlp: Any, url: str, timeout: float) -> dict[str, Any]:
    options = {
        "format": FORMAT,
        "noplaylist": True,
        "playlist_items": "1",
        "socket_timeout": timeout,
        "proxy": "",  # no proxy from the environment, as for direct URLs
        "cachedir": False,
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "logger": _Quiet(),
    }
    with yt_dlp.YoutubeDL(options) as ydl:
        info: dict[str, Any] = ydl.sanitize_info(ydl.extract_info(url, download=False))
    if info.get("_type") == "playlist":
        entries = info.get("entries") or []
        if not entries:
            raise yt_dlp.utils.DownloadError("the page lists no recordings")
        info = entries[0]
    return info


class _Quiet:
    """yt-dlp's output goes to our log, never to stdout."""

    def debug(self, message: str) -> None:
        log.debug("yt-dlp: %s", message)

    def info(self, message: str) -> None:
        log.debug("yt-dlp: %s", message)

    def warning(self, message: str) -> None:
        log.debug("yt-dlp: %s", message)

    def error(self, message: str) -> None:
        log.info("yt-dlp: %s", message)


def _unreachable(why: str) -> BadRequest:
    return BadRequest(f"The page could not be read: {why}.", code=Code.URL_UNREACHABLE)
