"""The default summarizer: the most central sentences (TextRank over TF-IDF), no model needed."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

from summarizer.dialogue import dialogue_sentences
from summarizer.sentences import split_sentences

__all__ = ["pick_sentences", "split_sentences", "summarize_extractive"]

Floats = npt.NDArray[np.float64]
Indices = npt.NDArray[np.intp]

_WORD: Final = re.compile(r"[^\W\d_]+")
# Truncation is a crude stemmer, but it folds most Russian inflections ("встреча", "встречи").
_STEM_CHARS: Final = 6
# Sentences with fewer content words count for less: "Okay." and "Да." should not win.
_FULL_WEIGHT_TOKENS: Final = 4
_DAMPING: Final = 0.85
_MAX_ITERATIONS: Final = 100
_TOLERANCE: Final = 1e-9
_STOPWORDS: Final = frozenset(
    """
    a about above after again all also am an and any are as at be because been before being
    but by can could did do does doing don down during each few for from further get got had
    has have having he her here hers him his how i if in into is it its just know like me
    more most my no nor not now of off oh ok okay on once one only or other our out over own
    really right so some such than that the their them then there these they this those
    through to too uh um under until up us very was we well were what when where which while
    who whom why will with would yeah yes you your
    а без бы был была были было быть в вам вас во вот все всё вы где да даже для до его ее её
    если есть еще ещё же за здесь и из или им их к как когда кто ли мне мы на над не нет ни
    но ну о об он она они оно от по под при про с со так там то тоже только ты у уже хорошо
    что чтобы это эта эти этот я вообще значит просто ладно типа короче
    """.split()  # noqa: SIM905 - a word list reads better as text
)


def _tokens(sentence: str) -> list[str]:
    words = _WORD.findall(sentence.lower())
    return [w[:_STEM_CHARS] for w in words if len(w) > 1 and w not in _STOPWORDS]


class _Graph:
    """Cosine similarities of TF-IDF rows, kept sparse: S = X Xᵀ is never built."""

    def __init__(self, token_lists: Sequence[Sequence[str]]) -> None:
        vocabulary: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        tf: list[float] = []
        for row, tokens in enumerate(token_lists):
            for term, count in Counter(tokens).items():
                rows.append(row)
                cols.append(vocabulary.setdefault(term, len(vocabulary)))
                tf.append(1.0 + math.log(count))
        self.n, self.m = len(token_lists), len(vocabulary)
        self.rows: Indices = np.asarray(rows, dtype=np.intp)
        self.cols: Indices = np.asarray(cols, dtype=np.intp)
        df = np.bincount(self.cols, minlength=self.m)
        weights = np.asarray(tf, dtype=np.float64) * np.log1p(self.n / df[self.cols])
        norms = np.sqrt(np.bincount(self.rows, weights=weights * weights, minlength=self.n))
        self.values: Floats = weights / norms[self.rows]
        # Normalized rows: a sentence with any word is similar to itself with exactly 1.
        self.self_similarity: Floats = (norms > 0).astype(np.float64)

    def times(self, x: Floats) -> Floats:
        """S @ x with the diagonal (each sentence's similarity to itself) left out."""
        by_term = np.bincount(self.cols, weights=self.values * x[self.rows], minlength=self.m)
        product = np.bincount(self.rows, weights=self.values * by_term[self.cols], minlength=self.n)
        return np.maximum(product - self.self_similarity * x, 0.0)


def _pagerank(graph: _Graph) -> Floats:
    n = graph.n
    degree = graph.times(np.ones(n))
    linked = degree > 1e-12
    safe_degree = np.where(linked, degree, 1.0)
    scores = np.full(n, 1.0 / n)
    for _ in range(_MAX_ITERATIONS):
        # A sentence that shares no word with any other spreads its score evenly.
        dangling = float(scores[~linked].sum())
        spread = graph.times(np.where(linked, scores / safe_degree, 0.0))
        updated: Floats = (1 - _DAMPING) / n + _DAMPING * (spread + dangling / n)
        if np.abs(updated - scores).sum() < _TOLERANCE:
            return updated
        scores = updated
    return scores


def summary_length(sentence_count: int, max_sentences: int) -> int:
    """How many sentences a summary of sentence_count sentences gets: about sqrt, bounded."""
    return min(max_sentences, math.ceil(math.sqrt(sentence_count)))


def pick_sentences(sentences: Sequence[str], max_sentences: int) -> list[int]:
    """Indices of the most central sentences, in spoken order, no sentence picked twice."""
    if max_sentences < 1:
        raise ValueError(f"max_sentences must be at least 1, got {max_sentences}")
    if not sentences:
        return []
    token_lists = [_tokens(s) for s in sentences]
    weights = np.array([min(1.0, len(t) / _FULL_WEIGHT_TOKENS) for t in token_lists])
    scores = _pagerank(_Graph(token_lists)) * weights
    # Ties (e.g. nothing in common anywhere) go to the earlier sentence.
    ranked = np.lexsort((np.arange(len(sentences)), -scores))
    wanted = summary_length(len(sentences), max_sentences)
    chosen: list[int] = []
    seen: set[str] = set()
    for index in ranked.tolist():
        key = " ".join(sentences[index].lower().split())
        if key not in seen:
            seen.add(key)
            chosen.append(index)
        if len(chosen) == wanted:
            break
    return sorted(chosen)


def summarize_extractive(text: str, max_sentences: int) -> str:
    """The most central sentences of text, exactly as written, in order, joined by spaces.

    A dialogue keeps who said what: one "Speaker: sentence" line per picked sentence.
    """
    dialogue = dialogue_sentences(text)
    if dialogue is not None:
        picked = pick_sentences([sentence for _, sentence in dialogue], max_sentences)
        return "\n".join(f"{dialogue[i][0]}: {dialogue[i][1]}" for i in picked)
    sentences = split_sentences(text)
    return " ".join(sentences[i] for i in pick_sentences(sentences, max_sentences))
