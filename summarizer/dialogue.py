"""Dialogue transcripts ("Speaker: words" lines from split stereo channels): sentences that keep their speaker."""

from __future__ import annotations

import re
from typing import Final

from summarizer.sentences import split_sentences

# The transcriber writes one "Name: text" line per turn; names never hold a colon.
_TURN: Final = re.compile(r"^([^:\n]{1,64}): (.+)$")


def dialogue_sentences(text: str) -> list[tuple[str, str]] | None:
    """(speaker, sentence) pairs when every line is a turn of two or more; None for plain text."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    turns = [_TURN.match(line) for line in lines]
    if len(lines) < 2 or not all(turns):
        return None
    return [(m.group(1), s) for m in turns if m is not None for s in split_sentences(m.group(2))]
