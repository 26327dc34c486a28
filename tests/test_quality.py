"""House rules that CI enforces: ruff and mypy --strict are clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "command",
    [
        pytest.param([str(BIN / "ruff"), "check", "."], id="ruff-check"),
        pytest.param([str(BIN / "ruff"), "format", "--check", "."], id="ruff-format"),
        pytest.param([str(BIN / "mypy")], id="mypy-strict"),
    ],
)
def test_tool_is_clean(command: list[str]) -> None:
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
