"""Word error rate for judging real-model transcripts against the known text of a test clip."""

from __future__ import annotations

import unicodedata

# Apostrophes vanish rather than split words, so "don't" and "dont" compare equal.
_APOSTROPHES = {"'", "\u2019", "\u02bc", "`"}
_YO, _YE = "\N{CYRILLIC SMALL LETTER IO}", "\N{CYRILLIC SMALL LETTER IE}"
# A separator between digits is part of the number ("3.5", "1,000", "10:30").
_NUMBER_JOINERS = {".", ",", ":"}


def _joins_digits(text: str, i: int) -> bool:
    inside = 0 < i < len(text) - 1
    return inside and text[i] in _NUMBER_JOINERS and text[i - 1].isdigit() and text[i + 1].isdigit()


def _strip(text: str, i: int) -> str:
    char = text[i]
    if char in _APOSTROPHES:
        return ""
    if unicodedata.category(char)[0] in "PS" and not _joins_digits(text, i):
        return " "
    return char


def normalise(text: str) -> list[str]:
    """Lowercase words without punctuation; digits stay as written, letters of any script."""
    # Russian writing drops the diaeresis of "yo" as often as not, and so does Whisper.
    text = unicodedata.normalize("NFKC", text).casefold().replace(_YO, _YE)
    return "".join(_strip(text, i) for i in range(len(text))).split()


def edit_distance(reference: list[str], hypothesis: list[str]) -> int:
    """Levenshtein distance counting word substitutions, insertions and deletions."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, start=1):
        current = [i]
        for j, hyp_word in enumerate(hypothesis, start=1):
            substitute = previous[j - 1] + (ref_word != hyp_word)
            current.append(min(previous[j] + 1, current[j - 1] + 1, substitute))
        previous = current
    return previous[-1]


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word edits per reference word; an empty reference counts each extra word as one error."""
    ref, hyp = normalise(reference), normalise(hypothesis)
    return edit_distance(ref, hyp) / max(len(ref), 1)
