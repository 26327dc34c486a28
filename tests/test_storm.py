"""The kill storm as a test: two seeds of `python -m tests.storm` (the full run is ten seeds).

Marked `storm`, so the default run leaves it out; run it with `pytest -m storm`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.storm import run_seed

pytestmark = [pytest.mark.storm, pytest.mark.timeout(1200)]


@pytest.mark.parametrize("seed", [101, 102])
async def test_kill_storm_loses_nothing_runs_nothing_twice_leaks_nothing(seed: int, tmp_path: Path) -> None:
    result = await run_seed(seed, tmp_path)
    assert result["problems"] == [], result
    assert result["accepted"] == result["jobs"] == 30
    assert sum(result["kills"].values()) >= 1 and result["runs"] == 1 + sum(result["kills"].values())
