"""Transcript text as it travels through Redis: a str whose repr never shows the words."""

from __future__ import annotations


class PrivateText(str):
    """arq logs a job's arguments at INFO; a transcript must not land in anyone's logs."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<text: {len(self)} chars>"
