"""Tests for sentence splitting and the extractive summarizer, on Russian and English text."""

from __future__ import annotations

import math
import random
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from summarizer.extractive import pick_sentences, split_sentences, summarize_extractive

EN_WORDS = """
    meeting budget project team release customer server model question answer plan
    decision deadline report market price product design review quarter contract
""".split()  # noqa: SIM905 - a word list reads better as text
RU_WORDS = """
    встреча бюджет проект команда релиз клиент сервер модель вопрос ответ план решение
    срок отчёт рынок цена продукт дизайн обзор квартал договор
""".split()  # noqa: SIM905 - a word list reads better as text
TERMINATORS = [".", "!", "?", "...", "?!", "…", "!!"]

EN_TEXT = (
    "The team met on Monday to review the release plan. Mr. Brown said the release "
    "is late by two weeks. The weather was nice. The release plan needs a new deadline, "
    "e.g. the end of May. Dr. Smith asked who owns the release plan? J. R. Miller agreed "
    "to own the release plan. Lunch was pizza. Costs grew by 3.5 percent... That is fine."
)
RU_TEXT = (
    "Мы обсудили бюджет проекта на следующий год. Бюджет проекта вырос на 3.5 процента, "
    "т.е. почти на четыре. Погода была хорошая. Петров А. С. предложил урезать бюджет "
    "проекта, отчёты и т.д. Потом все пошли обедать. Решили утвердить бюджет проекта в "
    "пятницу! Кто отвечает за бюджет проекта? Иванов... наверное."
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("   \n ", []),
        ("Just one", ["Just one"]),
        ("Mr. Smith went home. He slept.", ["Mr. Smith went home.", "He slept."]),
        ("It costs 3.5 dollars. Cheap!", ["It costs 3.5 dollars.", "Cheap!"]),
        ("J. R. R. Tolkien wrote it. Yes.", ["J. R. R. Tolkien wrote it.", "Yes."]),
        ("Wait... what? Really?! Yes!!", ["Wait... what?", "Really?!", "Yes!!"]),
        ("I think... Maybe not.", ["I think...", "Maybe not."]),
        ('He said "Stop." Then he left.', ['He said "Stop."', "Then he left."]),
        ("Use tools, e.g. hammers. Fine.", ["Use tools, e.g. hammers.", "Fine."]),
        ("Visit example.com today. Now.", ["Visit example.com today.", "Now."]),
        ("Title\n\nBody text here", ["Title", "Body text here"]),
        ("Line one\nline two.", ["Line one\nline two."]),
        ("Это т.е. пример. Да.", ["Это т.е. пример.", "Да."]),
        ("Купили хлеб и т.д. Потом ушли.", ["Купили хлеб и т.д.", "Потом ушли."]),
        ("Пушкин А. С. родился в 1799 г. в Москве.", ["Пушкин А. С. родился в 1799 г. в Москве."]),
        ("Это был я. Потом он.", ["Это был я.", "Потом он."]),
        ("«Пойдём!» — сказал он. Мы пошли.", ["«Пойдём!» — сказал он.", "Мы пошли."]),
        ("Он ушёл. — Куда? — Домой.", ["Он ушёл.", "— Куда? — Домой."]),
        ("Я думал… может быть. Нет?!", ["Я думал… может быть.", "Нет?!"]),
        ("今天很好。明天见！", ["今天很好。", "明天见！"]),
    ],
)
def test_split_sentences_examples(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def _sentence(words: list[str], terminator: str) -> str:
    return " ".join([words[0].capitalize(), *words[1:]]) + terminator


sentence_lists = st.lists(
    st.builds(
        _sentence,
        st.lists(st.sampled_from(EN_WORDS + RU_WORDS), min_size=1, max_size=8),
        st.sampled_from(TERMINATORS),
    ),
    min_size=1,
    max_size=12,
)


@given(sentence_lists, st.sampled_from([" ", "  ", "\n", " \n\n "]))
def test_split_sentences_recovers_well_formed_sentences(sentences: list[str], gap: str) -> None:
    assert split_sentences(gap.join(sentences)) == sentences


odd_pieces = st.sampled_from([*"ab AБв.!?…,;:—-«»\"'()\n\t3。？", "т.е.", "Mr.", "...", "Да"])
odd_text = st.lists(odd_pieces, max_size=120).map("".join) | st.text(max_size=200)


@given(odd_text)
def test_split_sentences_keeps_every_character(text: str) -> None:
    sentences = split_sentences(text)
    assert all(s and s == s.strip() for s in sentences)
    assert "".join("".join(sentences).split()) == "".join(text.split())


def _assert_in_spoken_order(summary: str, sentences: list[str], picked: list[int]) -> None:
    assert summary == " ".join(sentences[i] for i in picked)
    assert picked == sorted(set(picked))
    position = 0
    for index in picked:
        position = summary.index(sentences[index], position) + len(sentences[index])


@given(odd_text | st.builds(" ".join, sentence_lists), st.integers(1, 12))
@settings(max_examples=150)
def test_summary_is_an_ordered_bounded_subset(text: str, max_sentences: int) -> None:
    sentences = split_sentences(text)
    picked = pick_sentences(sentences, max_sentences)
    summary = summarize_extractive(text, max_sentences)
    _assert_in_spoken_order(summary, sentences, picked)
    distinct = len({" ".join(s.lower().split()) for s in sentences})
    bound = min(max_sentences, math.ceil(math.sqrt(len(sentences))))
    assert len(picked) == min(bound, distinct)
    source_position = 0
    for index in picked:
        source_position = text.index(sentences[index], source_position)


@pytest.mark.parametrize("text", [EN_TEXT, RU_TEXT])
def test_summary_prefers_central_sentences(text: str) -> None:
    summary = summarize_extractive(text, 3)
    assert len(split_sentences(summary)) == 3
    for off_topic in ("weather", "pizza", "Погода", "обедать"):
        assert off_topic not in summary
    assert ("release plan" in summary) or ("бюджет проекта" in summary)


def test_summary_length_grows_with_the_transcript() -> None:
    lengths = [len(pick_sentences(split_sentences(RU_TEXT * k), 50)) for k in (1, 4, 16)]
    assert lengths[0] < lengths[1] <= lengths[2]
    assert len(pick_sentences(split_sentences(EN_TEXT * 40), 7)) <= 7


def test_empty_and_single_sentence_transcripts() -> None:
    assert summarize_extractive("", 5) == ""
    assert summarize_extractive("  \n", 5) == ""
    assert summarize_extractive("Only one sentence here.", 5) == "Only one sentence here."
    assert summarize_extractive("Да.", 1) == "Да."


def test_repeated_sentences_are_picked_once() -> None:
    summary = summarize_extractive("Thank you. " * 30 + "The budget grows.", 5)
    assert summary.count("Thank you.") == 1


def test_max_sentences_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_sentences"):
        pick_sentences(["One."], 0)


def test_a_four_hour_transcript_is_summarized_quickly() -> None:
    rng = random.Random(4)
    sentences = [_sentence(rng.choices(EN_WORDS + RU_WORDS, k=9), ".") for _ in range(4000)]
    started = time.monotonic()
    summary = summarize_extractive(" ".join(sentences), 10)
    assert time.monotonic() - started < 5
    assert len(split_sentences(summary)) == 10
