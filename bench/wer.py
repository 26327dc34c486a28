"""Word error rate with an alignment breakdown, on normalised text: the one implementation that the
tests and the benchmarks share."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Errors:
    reference_words: int
    hypothesis_words: int
    substitutions: int
    deletions: int
    insertions: int

    @property
    def edits(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        return self.edits / max(self.reference_words, 1)

    @property
    def deletion_rate(self) -> float:
        """Share of reference words missing from the hypothesis: content dropped."""
        return self.deletions / max(self.reference_words, 1)


def align(reference: str, hypothesis: str) -> Errors:
    """Levenshtein alignment of normalised words, counting each kind of edit."""
    ref, hyp = normalise(reference), normalise(hypothesis)
    # Each cell holds (edits, substitutions, deletions, insertions); ties prefer fewer edits overall.
    previous = [(j, 0, 0, j) for j in range(len(hyp) + 1)]
    for i, ref_word in enumerate(ref, start=1):
        current = [(i, 0, i, 0)]
        for j, hyp_word in enumerate(hyp, start=1):
            diag, up, left = previous[j - 1], previous[j], current[j - 1]
            same = ref_word == hyp_word
            options = [
                (diag[0] + (not same), diag[1] + (not same), diag[2], diag[3]),
                (up[0] + 1, up[1], up[2] + 1, up[3]),
                (left[0] + 1, left[1], left[2], left[3] + 1),
            ]
            current.append(min(options))
        previous = current
    _, subs, dels, ins = previous[-1]
    return Errors(len(ref), len(hyp), subs, dels, ins)


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word edits per reference word; an empty reference counts each extra word as one error."""
    return align(reference, hypothesis).wer
