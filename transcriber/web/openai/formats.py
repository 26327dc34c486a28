"""OpenAI's audio response bodies (json, verbose_json) from a job's transcript.json (pure functions)."""

from __future__ import annotations

import gzip
from typing import Any

# Whisper's language names, lowercase English, as OpenAI's verbose_json reports them.
LANGUAGE_NAMES: dict[str, str] = {
    "en": "english",
    "zh": "chinese",
    "de": "german",
    "es": "spanish",
    "ru": "russian",
    "ko": "korean",
    "fr": "french",
    "ja": "japanese",
    "pt": "portuguese",
    "tr": "turkish",
    "pl": "polish",
    "ca": "catalan",
    "nl": "dutch",
    "ar": "arabic",
    "sv": "swedish",
    "it": "italian",
    "id": "indonesian",
    "hi": "hindi",
    "fi": "finnish",
    "vi": "vietnamese",
    "he": "hebrew",
    "uk": "ukrainian",
    "el": "greek",
    "ms": "malay",
    "cs": "czech",
    "ro": "romanian",
    "da": "danish",
    "hu": "hungarian",
    "ta": "tamil",
    "no": "norwegian",
    "th": "thai",
    "ur": "urdu",
    "hr": "croatian",
    "bg": "bulgarian",
    "lt": "lithuanian",
    "la": "latin",
    "mi": "maori",
    "ml": "malayalam",
    "cy": "welsh",
    "sk": "slovak",
    "te": "telugu",
    "fa": "persian",
    "lv": "latvian",
    "bn": "bengali",
    "sr": "serbian",
    "az": "azerbaijani",
    "sl": "slovenian",
    "kn": "kannada",
    "et": "estonian",
    "mk": "macedonian",
    "br": "breton",
    "eu": "basque",
    "is": "icelandic",
    "hy": "armenian",
    "ne": "nepali",
    "mn": "mongolian",
    "bs": "bosnian",
    "kk": "kazakh",
    "sq": "albanian",
    "sw": "swahili",
    "gl": "galician",
    "mr": "marathi",
    "pa": "punjabi",
    "si": "sinhala",
    "km": "khmer",
    "sn": "shona",
    "yo": "yoruba",
    "so": "somali",
    "af": "afrikaans",
    "oc": "occitan",
    "ka": "georgian",
    "be": "belarusian",
    "tg": "tajik",
    "sd": "sindhi",
    "gu": "gujarati",
    "am": "amharic",
    "yi": "yiddish",
    "lo": "lao",
    "uz": "uzbek",
    "fo": "faroese",
    "ht": "haitian creole",
    "ps": "pashto",
    "tk": "turkmen",
    "nn": "nynorsk",
    "mt": "maltese",
    "sa": "sanskrit",
    "lb": "luxembourgish",
    "my": "myanmar",
    "bo": "tibetan",
    "tl": "tagalog",
    "mg": "malagasy",
    "as": "assamese",
    "tt": "tatar",
    "haw": "hawaiian",
    "ln": "lingala",
    "ha": "hausa",
    "ba": "bashkir",
    "jw": "javanese",
    "su": "sundanese",
    "yue": "cantonese",
}


def language_name(code: str | None) -> str:
    """'en' -> 'english'; an unknown code is returned as it is, nothing becomes ''."""
    if not code:
        return "unknown"
    return LANGUAGE_NAMES.get(code, code)


def text_body(document: dict[str, Any]) -> str:
    """response_format=text: the whole text on one line, newline-terminated like OpenAI's."""
    return f"{document.get('text', '')}\n"


def json_body(document: dict[str, Any]) -> dict[str, Any]:
    return {"text": document.get("text", "")}


def verbose_body(document: dict[str, Any], task: str, granularities: frozenset[str]) -> dict[str, Any]:
    """response_format=verbose_json: segments and/or words as the granularities ask.

    A translation reports the language of its output, English, as OpenAI's does.
    """
    body: dict[str, Any] = {
        "task": task,
        "language": "english" if task == "translate" else language_name(document.get("language")),
        "duration": document.get("duration", 0.0),
        "text": document.get("text", ""),
    }
    segments = document.get("segments", [])
    if "segment" in granularities:
        body["segments"] = [_segment(i, s) for i, s in enumerate(segments)]
    if "word" in granularities:
        body["words"] = [_word(w) for s in segments for w in s.get("words", [])]
    return body


def diarized_body(document: dict[str, Any], task: str) -> dict[str, Any]:
    """response_format=diarized_json: OpenAI's shape, each segment with its speaker's name."""
    names = {s.get("id"): s.get("name") for s in document.get("speakers") or []}
    segments = [
        {
            "type": "transcript.text.segment",
            "id": f"seg_{index}",
            "start": s.get("start", 0.0),
            "end": s.get("end", 0.0),
            "text": s.get("text", "").strip(),
            "speaker": names.get(s.get("speaker"), s.get("speaker")),
        }
        for index, s in enumerate(document.get("segments", []))
    ]
    return {
        "task": task,
        "duration": document.get("duration", 0.0),
        "text": document.get("text", ""),
        "segments": segments,
    }


def _segment(index: int, segment: dict[str, Any]) -> dict[str, Any]:
    text = segment.get("text", "")
    # Results written before decoding details were recorded lack them: derive or neutral values.
    decoding = segment.get("decoding") or {
        "seek": round(segment.get("start", 0.0) * 100),
        "tokens": [],
        "temperature": 0.0,
        "avg_logprob": 0.0,
        "compression_ratio": compression_ratio(text),
        "no_speech_prob": 0.0,
    }
    return {
        "id": index,
        "seek": decoding["seek"],
        "start": segment.get("start", 0.0),
        "end": segment.get("end", 0.0),
        "text": text,
        "tokens": decoding["tokens"],
        "temperature": _number(decoding["temperature"]),
        "avg_logprob": _number(decoding["avg_logprob"]),
        "compression_ratio": _number(decoding["compression_ratio"]),
        "no_speech_prob": _number(decoding["no_speech_prob"]),
    }


def _word(word: dict[str, Any]) -> dict[str, Any]:
    return {"word": word.get("word", "").strip(), "start": word.get("start", 0.0), "end": word.get("end", 0.0)}


def _number(value: Any) -> float:
    """The result JSON writes non-finite numbers as null; OpenAI's clients expect numbers."""
    return float(value) if isinstance(value, int | float) else 0.0


def compression_ratio(text: str) -> float:
    """Whisper's repetition measure: UTF-8 length over its gzip-compressed length."""
    data = text.encode("utf-8")
    return round(len(data) / len(gzip.compress(data)), 4) if data else 0.0
