"""Word error rate with an alignment breakdown (substitutions, deletions, insertions) on normalised text."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

# Apostrophes vanish ("don't" == "dont"); other punctuation and symbols separate words.
_APOSTROPHES = frozenset("'\u2019\u02bc`")


def normalise(text: str) -> list[str]:
    """Lowercase words without punctuation, in any script."""
    chars = []
    for char in unicodedata.normalize("NFKC", text).casefold():
        if char in _APOSTROPHES:
            continue
        chars.append(" " if unicodedata.category(char)[0] in "PS" else char)
    return "".join(chars).split()


@dataclass(frozen=True)
class Errors:
    reference_words: int
    hypothesis_words: int
    substitutions: int
    deletions: int
    insertions: int

    @property
    def wer(self) -> float:
        edits = self.substitutions + self.deletions + self.insertions
        return edits / max(self.reference_words, 1)

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
    return align(reference, hypothesis).wer
