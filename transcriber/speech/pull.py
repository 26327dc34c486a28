"""`transcriber models pull`: fetch a hub model, check every file against the hub's hashes, and
place it in the models directory in one rename, so a cut-off or bad pull leaves nothing behind."""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transcriber.speech.models import HASH_BLOCK, HUB_NAMES, is_model_dir

log = logging.getLogger(__name__)
# What faster-whisper itself fetches from a model repository (faster_whisper.utils.download_model).
ALLOW_PATTERNS = ["config.json", "preprocessor_config.json", "model.bin", "tokenizer.json", "vocabulary.*"]
PARTIAL_PREFIX = ".pull-"
_ALIASES = {"large": "large-v3", "turbo": "large-v3-turbo"}
_REPOS = {
    "large-v3-turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
    **{n: f"Systran/faster-distil-whisper-{n.removeprefix('distil-')}" for n in HUB_NAMES if n.startswith("distil-")},
}


class PullError(Exception):
    """A pull that did not place a model; the message says why and what to do."""


@dataclass(frozen=True)
class Expected:
    """One repository file as the hub describes it: its size and its hash (sha256 for LFS files,
    the git blob id for the small files git stores itself)."""

    name: str
    size: int | None
    sha256: str | None
    git_oid: str | None


def repo_for(name: str) -> str:
    """The hub repository of a model name faster-whisper knows; `owner/repo` is taken as it is."""
    if "/" in name:
        return name
    if name not in HUB_NAMES:
        raise PullError(f"{name!r} is not a model name the hub knows here ({', '.join(HUB_NAMES)}), nor owner/repo")
    name = _ALIASES.get(name, name)
    return _REPOS.get(name, f"Systran/faster-whisper-{name}")


def offline(environ: dict[str, str] | os._Environ[str]) -> bool:
    return environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def pull(name: str, models_dir: Path, *, force: bool = False, revision: str | None = None) -> Path:
    """Fetch `name` into models_dir/<name> (HF_ENDPOINT, proxies and HF_HUB_OFFLINE as the
    environment says); returns the placed directory."""
    if offline(os.environ):
        raise PullError("HF_HUB_OFFLINE is set: nothing is fetched; unset it or copy the model directory in")
    repo = repo_for(name)
    target = models_dir / (name if "/" not in name else name.rsplit("/", 1)[1])
    if is_model_dir(target) and not force:
        raise PullError(f"{target} already holds a model; pass --force to fetch it again")
    models_dir.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(models_dir, target.name)
    from huggingface_hub import HfApi, snapshot_download  # heavy, and only this command needs it

    try:
        info = HfApi().model_info(repo, revision=revision, files_metadata=True)
    except Exception as exc:
        raise PullError(f"cannot read {repo} from the hub: {_reason(exc)}") from exc
    expected = _expected(info)
    partial = Path(tempfile.mkdtemp(prefix=f"{PARTIAL_PREFIX}{target.name}.", dir=models_dir))
    try:
        try:
            snapshot_download(repo, revision=info.sha, local_dir=partial, allow_patterns=ALLOW_PATTERNS)
        except Exception as exc:
            raise PullError(f"downloading {repo} failed: {_reason(exc)}; nothing was placed") from exc
        shutil.rmtree(partial / ".cache", ignore_errors=True)  # the hub library's own bookkeeping
        check(partial, expected)
        _place(partial, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    log.info("placed %s (%s at %s) in %s", name, repo, info.sha, target)
    return target


def _expected(info: Any) -> list[Expected]:
    files = {s.rfilename: s for s in info.siblings or []}
    wanted = [n for n in files if any(fnmatch.fnmatch(n, p) for p in ALLOW_PATTERNS)]
    found = [
        Expected(n, files[n].size, files[n].lfs.sha256 if files[n].lfs else None, files[n].blob_id) for n in wanted
    ]
    missing = [n for n in ("model.bin", "config.json") if n not in wanted]
    if missing:
        raise PullError(f"{info.id} is not a CTranslate2 Whisper model: it has no {', '.join(missing)}")
    return found


def check(folder: Path, expected: list[Expected]) -> None:
    """Every file present, of the hub's size and hash; anything else is a PullError."""
    for want in expected:
        path = folder / want.name
        if not path.is_file():
            raise PullError(f"{want.name} did not arrive; nothing was placed")
        if want.size is not None and path.stat().st_size != want.size:
            raise PullError(f"{want.name} is {path.stat().st_size} bytes, the hub says {want.size}; nothing was placed")
        if want.sha256 is None and want.git_oid is None:
            raise PullError(f"the hub gave no checksum for {want.name}; nothing was placed")
        sha256, git_oid = _hashes(path)
        if (want.sha256 or git_oid) != (sha256 if want.sha256 else want.git_oid):
            kind = "SHA-256" if want.sha256 else "git blob id"
            raise PullError(f"{want.name} does not match the hub's {kind}; nothing was placed")


def _hashes(path: Path) -> tuple[str, str]:
    """sha256 and the git blob id (sha1 of "blob <size>\\0" + content) in one read."""
    sha256, git = hashlib.sha256(), hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with path.open("rb") as fh:
        while block := fh.read(HASH_BLOCK):
            sha256.update(block)
            git.update(block)
    return sha256.hexdigest(), git.hexdigest()


def _place(partial: Path, target: Path) -> None:
    """fsync the files, then one rename: a reader sees no model or the whole model, never half."""
    for path in partial.iterdir():
        with path.open("rb") as fh:
            os.fsync(fh.fileno())
    old = None
    if target.exists():
        old = target.with_name(f"{PARTIAL_PREFIX}{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(partial, target)
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _remove_leftovers(models_dir: Path, name: str) -> None:
    """A pull killed mid-way (kill -9, power loss) leaves its partial folder: the next one removes it."""
    for stale in models_dir.glob(f"{PARTIAL_PREFIX}{name}.*"):
        log.info("removing the partial pull %s", stale)
        shutil.rmtree(stale, ignore_errors=True)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def main(argv: list[str]) -> int:
    """`python -m transcriber.speech.pull NAME[,NAME...] DIR`: the image build bakes models with it
    (only this module and models.py are copied in, so a code change does not fetch them again)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    names, folder = argv
    for name in filter(None, (n.strip() for n in names.split(","))):
        try:
            pull(name, Path(folder))
        except PullError as exc:
            log.error("models pull %s: %s", name, exc)
            return 1
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
