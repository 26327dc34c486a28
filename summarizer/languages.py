"""Language names for prompts: a model writes better in "Russian" than in "ru"."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

SAME_LANGUAGE: Final = "the same language as the transcript"
LANGUAGE_NAMES: Final[Mapping[str, str]] = {
    "ar": "Arabic",
    "be": "Belarusian",
    "bg": "Bulgarian",
    "cs": "Czech",
    "da": "Danish",
    "de": "German",
    "el": "Greek",
    "en": "English",
    "es": "Spanish",
    "et": "Estonian",
    "fa": "Persian",
    "fi": "Finnish",
    "fr": "French",
    "he": "Hebrew",
    "hi": "Hindi",
    "hu": "Hungarian",
    "hy": "Armenian",
    "id": "Indonesian",
    "it": "Italian",
    "ja": "Japanese",
    "ka": "Georgian",
    "kk": "Kazakh",
    "ko": "Korean",
    "lt": "Lithuanian",
    "lv": "Latvian",
    "nl": "Dutch",
    "no": "Norwegian",
    "pl": "Polish",
    "pt": "Portuguese",
    "ro": "Romanian",
    "ru": "Russian",
    "sk": "Slovak",
    "sr": "Serbian",
    "sv": "Swedish",
    "tr": "Turkish",
    "uk": "Ukrainian",
    "uz": "Uzbek",
    "vi": "Vietnamese",
    "zh": "Chinese",
}


def language_name(code: str | None) -> str:
    """A name the model understands for an ISO 639-1 code; unknown names pass through."""
    if not code or code.strip().lower() == "auto":
        return SAME_LANGUAGE
    return LANGUAGE_NAMES.get(code.strip().lower(), code.strip())
