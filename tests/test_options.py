"""Form field parsing: job ids, job options, and the derived worker/thread counts."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transcriber.domain.options import JOB_ID_RE, JobOptions, check_job_id, parse_options
from transcriber.errors import BadRequest
from transcriber.setting_sections import WhisperSettings
from transcriber.speech.models import resolve_model, tokenizer_languages
from transcriber.speech.parallelism import derive_parallelism
from transcriber.web.error_mapping import status_of

# The codes the shipped tiny.en tokenizer knows (English-only models carry every language token).
LANGUAGES = tokenizer_languages(resolve_model("tiny.en", Path("/nonexistent"), allow_download=False).path)

# --- job ids ---------------------------------------------------------------------------------

GOOD_IDS = [
    "a",
    "0",
    "job-1",
    "Job_2.final",
    "tenant:42:upload-7",
    "a.b_c:d-e",
    "9" * 128,
    "x" + "-" * 127,
    "deadbeefdeadbeefdeadbeefdeadbeef",
]
BAD_IDS = [
    "",
    "a" * 129,
    "-leading-dash",
    ".hidden",
    "_x",
    ":x",
    "../etc/passwd",
    "a/../../b",
    "a/b",
    "a\\b",
    "..",
    "with space",
    "tab\there",
    "line\nbreak",
    "trailing\n",
    "nul\x00",
    "café",
    "\uff4a\uff4f\uff42",  # fullwidth "job"
    "\u0663",  # Arabic-Indic digit three
    "emoji🎙",
    "semi;colon",
    "percent%2e%2e",
    "q?x=1",
]


@pytest.mark.parametrize("job_id", GOOD_IDS)
def test_good_job_ids(job_id: str) -> None:
    assert check_job_id(job_id) == job_id


@pytest.mark.parametrize("job_id", BAD_IDS)
def test_bad_job_ids(job_id: str) -> None:
    with pytest.raises(BadRequest) as caught:
        check_job_id(job_id)
    assert caught.value.code == "invalid_job_id"
    assert status_of(caught.value) == 400


def test_length_limit_is_128() -> None:
    assert check_job_id("a" * 128)
    with pytest.raises(BadRequest):
        check_job_id("a" * 129)


def test_regex_is_the_contracts() -> None:
    assert JOB_ID_RE.pattern == r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"


SAFE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


@given(st.text(SAFE, min_size=1, max_size=1), st.text(SAFE + "._:-", max_size=127))
def test_every_id_of_allowed_characters_passes(first: str, rest: str) -> None:
    assert check_job_id(first + rest) == first + rest


@given(st.text(min_size=1, max_size=140))
def test_accepted_ids_are_safe_file_names(job_id: str) -> None:
    try:
        check_job_id(job_id)
    except BadRequest:
        return
    assert "/" not in job_id and "\\" not in job_id and job_id not in (".", "..")
    assert job_id.isascii() and job_id.isprintable() and len(job_id) <= 128


# --- options ---------------------------------------------------------------------------------


def test_defaults() -> None:
    options = parse_options({}, languages=LANGUAGES, multilingual=True)
    assert options == JobOptions(None, "transcribe", False, None, None)


def test_all_fields() -> None:
    fields = {
        "language": " RU ",
        "task": "Translate",
        "word_timestamps": "TRUE",
        "initial_prompt": "Glossary: Kubernetes, gRPC.",
        "hotwords": "Kubernetes gRPC",
    }
    options = parse_options(fields, languages=LANGUAGES, multilingual=True)
    assert options.language == "ru"
    assert options.task == "translate"
    assert options.word_timestamps is True
    assert options.initial_prompt == "Glossary: Kubernetes, gRPC."
    assert options.hotwords == "Kubernetes gRPC"
    assert JobOptions.from_dict(options.to_dict()) == options


def test_from_dict_ignores_unknown_keys() -> None:
    assert JobOptions.from_dict({"task": "translate", "beam_size": 3}).task == "translate"


@pytest.mark.parametrize("value", ["auto", "AUTO", "", "  "])
def test_auto_language_means_detect(value: str) -> None:
    assert parse_options({"language": value}, languages=LANGUAGES, multilingual=True).language is None
    assert parse_options({"language": value}, languages=LANGUAGES, multilingual=False).language is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("1", True),
        ("yes", True),
        ("false", False),
        ("0", False),
        ("no", False),
        ("", False),
        (" True ", True),
    ],
)
def test_word_timestamps_values(value: str, expected: bool) -> None:
    assert parse_options({"word_timestamps": value}, languages=LANGUAGES, multilingual=True).word_timestamps is expected


@pytest.mark.parametrize("value", ["   ", ""])
def test_blank_prompts_are_none(value: str) -> None:
    options = parse_options({"initial_prompt": value, "hotwords": value}, languages=LANGUAGES, multilingual=True)
    assert options.initial_prompt is None and options.hotwords is None


INVALID = [
    ({"language": "xx"}, "invalid_language"),
    ({"language": "english"}, "invalid_language"),
    ({"language": "en-US"}, "invalid_language"),
    ({"task": "summarize"}, "invalid_task"),
    ({"task": "transcribe "}, None),  # surrounding spaces are fine
    ({"word_timestamps": "maybe"}, "invalid_word_timestamps"),
    ({"word_timestamps": "2"}, "invalid_word_timestamps"),
    ({"initial_prompt": "x" * 2001}, "invalid_initial_prompt"),
    ({"hotwords": "y" * 2001}, "invalid_hotwords"),
    ({"initial_prompt": "x" * 2000}, None),
]


@pytest.mark.parametrize(("fields", "code"), INVALID)
def test_invalid_values_have_codes(fields: dict[str, str], code: str | None) -> None:
    if code is None:
        parse_options(fields, languages=LANGUAGES, multilingual=True)
        return
    with pytest.raises(BadRequest) as caught:
        parse_options(fields, languages=LANGUAGES, multilingual=True)
    assert caught.value.code == code
    assert status_of(caught.value) == 400
    assert caught.value.message


@pytest.mark.parametrize("language", ["ru", "de", "zh", "uk"])
def test_english_only_model_rejects_other_languages(language: str) -> None:
    assert parse_options({"language": language}, languages=LANGUAGES, multilingual=True).language == language
    with pytest.raises(BadRequest) as caught:
        parse_options({"language": language}, languages=LANGUAGES, multilingual=False)
    assert caught.value.code == "unsupported_language"
    assert "English-only" in caught.value.message


def test_english_only_model_accepts_english() -> None:
    assert parse_options({"language": "en"}, languages=LANGUAGES, multilingual=False).language == "en"


def test_english_only_model_cannot_translate() -> None:
    with pytest.raises(BadRequest) as caught:
        parse_options({"task": "translate"}, languages=LANGUAGES, multilingual=False)
    assert caught.value.code == "unsupported_task"
    assert parse_options({"task": "translate"}, languages=LANGUAGES, multilingual=True).task == "translate"


# --- derive_parallelism ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cores", "expected"),
    [(1, (1, 1)), (2, (2, 1)), (4, (2, 2)), (8, (4, 2)), (16, (8, 2)), (32, (16, 2))],
)
def test_cpu_defaults(cores: int, expected: tuple[int, int]) -> None:
    assert derive_parallelism(WhisperSettings(), "cpu", cores=cores) == expected


@pytest.mark.parametrize("cores", [2, 8, 16])
def test_cuda_default_is_two_workers(cores: int) -> None:
    workers, threads = derive_parallelism(WhisperSettings(), "cuda", cores=cores)
    assert workers == 2
    assert threads == max(1, cores // 2)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_configured_values_win(device: str) -> None:
    whisper = WhisperSettings(workers=3, cpu_threads=5)
    assert derive_parallelism(whisper, device, cores=16) == (3, 5)
    assert derive_parallelism(WhisperSettings(workers=3), device, cores=16) == (3, 5)
    assert derive_parallelism(WhisperSettings(cpu_threads=7), "cpu", cores=16) == (2, 7)


@pytest.mark.parametrize(("cores", "expected"), [(1, (1, 1)), (2, (2, 1)), (4, (4, 1)), (16, (16, 1))])
def test_fast_mode_runs_one_thread_replicas(cores: int, expected: tuple[int, int]) -> None:
    assert derive_parallelism(WhisperSettings(fast_mode=True), "cpu", cores=cores) == expected


def test_default_cores_come_from_the_machine() -> None:
    workers, threads = derive_parallelism(WhisperSettings(), "cpu")
    assert workers >= 1 and threads >= 1


@given(st.integers(min_value=1, max_value=512))
def test_cpu_never_oversubscribes(cores: int) -> None:
    workers, threads = derive_parallelism(WhisperSettings(), "cpu", cores=cores)
    assert workers >= 1 and threads >= 1
    assert workers * threads <= cores
