"""`python -m transcriber.speech.gpu_check`, the cuda image's build-time check: it reads from the
installed ctranslate2 which CUDA libraries it opens, and fails clearly unless the loader finds them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from transcriber.speech.gpu_check import ctranslate2_library, wanted


def _check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "transcriber.speech.gpu_check"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_it_names_what_ctranslate2_opens_and_fails_without_it() -> None:
    names = wanted(ctranslate2_library())
    assert "libcublas.so.12" in names and "libcuda.so.1" not in names  # the driver is the host's
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    done = _check(env)
    assert done.returncode == 1, done.stdout
    assert "opens: " in done.stdout and "libcublas.so.12" in done.stdout
    assert "gpu-check: FAILED: libcublas.so.12" in done.stderr and "Traceback" not in done.stderr


def test_it_passes_when_the_loader_finds_the_libraries(tmp_path: Path) -> None:
    """Any real shared object under each wanted name, found through LD_LIBRARY_PATH as ctranslate2's
    dlopen would: the check says where each was found (the image registers cuBLAS with ldconfig)."""
    places = (Path("/lib/x86_64-linux-gnu/libz.so.1"), Path("/usr/lib/x86_64-linux-gnu/libz.so.1"))
    zlib = next(p for p in places if p.exists())
    for name in wanted(ctranslate2_library()):
        shutil.copy(zlib, tmp_path / name)
    done = _check({**os.environ, "LD_LIBRARY_PATH": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert f"libcublas.so.12: found at {tmp_path / 'libcublas.so.12'}" in done.stdout
    assert "CUDA devices the driver shows: 0" in done.stdout  # no GPU here; --require-gpu would fail
