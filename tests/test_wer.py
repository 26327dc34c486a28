"""Tests for the word-error-rate helper used to judge real-model transcripts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.wer import align, normalise, word_error_rate


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Hello, World!", ["hello", "world"]),
        ("  Don't   stop — it's fine…", ["dont", "stop", "its", "fine"]),
        ("well-known", ["well", "known"]),
        ("Costs 3.50, not 1,000; at 10:30.", ["costs", "3.50", "not", "1,000", "at", "10:30"]),
        ("Seven 7 seventy-seven", ["seven", "7", "seventy", "seven"]),
        ("Привет, МИР! «Ёлка» — ёж.", ["привет", "мир", "елка", "еж"]),
        ("STRASSE Straße", ["strasse", "strasse"]),
        ("", []),
        ("?!...", []),
    ],
)
def test_normalise(text: str, words: list[str]) -> None:
    assert normalise(text) == words


@pytest.mark.parametrize(
    ("reference", "hypothesis", "rate"),
    [
        ("the cat sat", "The cat sat.", 0.0),
        ("the cat sat", "the cat sat down", 1 / 3),
        ("the cat sat", "the sat", 1 / 3),
        ("the cat sat", "a cat sit", 2 / 3),
        ("the cat sat", "", 1.0),
        ("a b", "c d e f", 2.0),
        ("", "", 0.0),
        ("", "noise here", 2.0),
        ("Съешь же ещё этих булок", "съешь же еще этих булок", 0.0),
    ],
)
def test_word_error_rate(reference: str, hypothesis: str, rate: float) -> None:
    assert word_error_rate(reference, hypothesis) == pytest.approx(rate)


_words = st.lists(st.sampled_from(["a", "b", "c", "да", "нет"]), max_size=12)


def edit_distance(a: list[str], b: list[str]) -> int:
    """Word edits between two word lists (already normalised words), through the alignment."""
    return align(" ".join(a), " ".join(b)).edits


@given(_words, _words)
def test_alignment_counts_add_up(a: list[str], b: list[str]) -> None:
    errors = align(" ".join(a), " ".join(b))
    assert errors.reference_words - errors.deletions + errors.insertions == errors.hypothesis_words


@given(_words, _words)
def test_edit_distance_is_a_bounded_symmetric_metric(a: list[str], b: list[str]) -> None:
    d = edit_distance(a, b)
    assert d == edit_distance(b, a)
    assert abs(len(a) - len(b)) <= d <= max(len(a), len(b))
    assert (d == 0) == (a == b)


@given(_words, _words, _words)
def test_edit_distance_triangle_inequality(a: list[str], b: list[str], c: list[str]) -> None:
    assert edit_distance(a, c) <= edit_distance(a, b) + edit_distance(b, c)


@given(st.text(max_size=60))
def test_normalise_is_idempotent(text: str) -> None:
    words = normalise(text)
    assert normalise(" ".join(words)) == words
