"""What `transcriber submit` takes: a local file, or an http(s) URL the server fetches itself."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

import click


@dataclass(frozen=True)
class RemoteFile:
    """A recording the server is asked to fetch (the `url` form field); named after its path."""

    url: str

    @property
    def name(self) -> str:
        return PurePosixPath(unquote(urlsplit(self.url).path)).name or urlsplit(self.url).hostname or "download"

    @property
    def stem(self) -> str:
        return PurePosixPath(self.name).stem or self.name


Source = Path | RemoteFile


class SourceType(click.ParamType[Source]):
    """An existing file, or a URL starting with http:// or https://."""

    name = "FILE|URL"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Source:
        text = str(value)
        if text.startswith(("http://", "https://")):
            return RemoteFile(text)
        path = Path(text)
        if not path.is_file():
            self.fail(f"{text!r} is neither a file nor an http(s) URL", param, ctx)
        return path
