"""Sentence splitting for transcripts in Russian, English and similar languages."""

from __future__ import annotations

import re
from typing import Final

# A run of stops with any closing quotes/brackets, then whitespace; full-width stops need no
# space; a blank line always ends a sentence.
_CANDIDATE: Final = re.compile(
    r"(?P<end>[.!?…]+[\"'»”’)\]]*)(?P<gap>\s+)"
    r"|(?P<cjk>[。！？]+[」』”’）]*)"
    r"|(?P<para>\n[^\S\n]*\n)"
)
_CLOSERS: Final = "\"'»”’)]"
_BLANK_LINE: Final = re.compile(r"\n[^\S\n]*\n")
_WORD_BEFORE: Final = re.compile(r"[^\s\"'«»“„(\[]*$")
_CONTINUATIONS: Final = frozenset(",;:")
_DASHES: Final = frozenset("—–-")

# Words that take a dot and are (almost) never the last word of a sentence.
_ABBREVIATIONS: Final = frozenset(
    """
    mr mrs ms dr prof st vs sr jr approx fig dept est gen gov sen rep capt lt col sgt
    e.g i.e cf al
    т.е т.к т.н т.ч т.о напр см ср проф акад доц тов ул пр пер просп им стр рис гл
    г-н г-жа гг вв
    """.split()  # noqa: SIM905 - a word list reads better as text
)
# Dotted short forms that can close a sentence ("... и т.д. Потом").
_MAY_END: Final = frozenset({"т.д", "т.п", "д.р"})
# Single letters: uppercase ones are initials, lowercase ones Russian abbreviations
# (г. = год/город, в. = век, д. = дом, с. = страница); "я" is a word that ends sentences.
_SINGLE_LETTER_WORDS: Final = frozenset({"я"})


def _is_abbreviation(word: str) -> bool:
    lowered = word.lower()
    if len(word) == 1 and word.isalpha():
        return word not in _SINGLE_LETTER_WORDS
    if lowered in _ABBREVIATIONS:
        return True
    parts = lowered.split(".")
    dotted_short = len(parts) > 1 and all(0 < len(p) <= 2 and p.isalpha() for p in parts)
    return dotted_short and lowered not in _MAY_END


def _ends_sentence(text: str, match: re.Match[str]) -> bool:
    end, gap = match.group("end"), match.group("gap")
    if end is None or _BLANK_LINE.search(gap):
        return True
    following = text[match.end() : match.end() + 1]
    if not following:
        return True
    if following.islower() or following in _CONTINUATIONS:
        return False
    mark = end.rstrip(_CLOSERS)
    if following in _DASHES:
        # "Он ушёл. — Куда?" starts a new line of dialogue; "«Иди!» — сказал он" does not.
        return mark == "."
    if mark != ".":
        return True
    # A bounded window keeps this linear; a longer "word" is no abbreviation anyway.
    word = _WORD_BEFORE.search(text, max(0, match.start() - 32), match.start())
    return word is None or not _is_abbreviation(word.group())


def split_sentences(text: str) -> list[str]:
    """Sentences of text, stripped, in order; together they hold every non-space character."""
    sentences: list[str] = []
    start = 0
    for match in _CANDIDATE.finditer(text):
        if not _ends_sentence(text, match):
            continue
        cut = match.end("end") if match.group("end") is not None else match.end()
        piece = text[start:cut].strip()
        if piece:
            sentences.append(piece)
        start = cut
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences
