"""The layers of DESIGN.md, as import-linter contracts in pyproject.toml, hold for the code as it is,
and catch a wrong import when one is made."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """Run lint-imports on the packages under `tree`, with the repository's contracts."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_contract_is_kept() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def copy_packages(tmp_path: Path) -> Path:
    for package in ("transcriber", "summarizer"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "static"))
    return tmp_path


def add_import(module: Path, line: str) -> None:
    module.write_text(f"{line}\n{module.read_text()}")


@pytest.mark.parametrize(
    ("module", "line", "report"),
    [
        # the scheduler importing aiohttp's server
        ("transcriber/jobs/scheduler.py", "import aiohttp.web", "transcriber.jobs is not allowed to import aiohttp"),
        # speech importing the store breaks the layers
        (
            "transcriber/speech/engine.py",
            "import transcriber.store.sqlite",
            "transcriber.speech.engine -> transcriber.store.sqlite",
        ),
        # the worker reaching the job database
        ("summarizer/worker.py", "import transcriber.store.sqlite", "summarizer is not allowed to import transcriber"),
    ],
    ids=["scheduler-aiohttp-web", "speech-store", "worker-job-database"],
)
def test_a_wrong_import_breaks_the_build(tmp_path: Path, module: str, line: str, report: str) -> None:
    tree = copy_packages(tmp_path)
    add_import(tree / module, f"{line}  # noqa")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert report in result.stdout


def test_every_package_folder_ships_in_the_wheel() -> None:
    """pyproject.toml lists packages by name (migrations installs under transcriber/): a new
    layer folder left off the list would be missing from the wheel and the image."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("transcriber", "summarizer")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert folders - listed == set()
    assert "transcriber.migrations" in listed
