"""Smoke test of the bench's uploads case: ours and the bare aiohttp handler, measured in one run.

No timing assertions (the figures depend on the machine): it checks that both sides answered every
repeat, alternating, and that the figures carry their per-repeat samples.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import CLIPS

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_uploads_case_compares_with_the_bare_handler_in_one_run(tmp_path: Path) -> None:
    audio = tmp_path / "audio"
    audio.mkdir()
    shutil.copy(CLIPS / "numbers.flac", audio / "jfk.flac")
    shutil.copy(CLIPS / "speech.mp3", audio / "multilingual.mp3")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "bench", "--quick", "--only", "uploads", "--audio-dir", str(audio)]
    command += ["--out", str(out), "--models-dir", str(tmp_path / "models"), "--upload-dir", str(tmp_path)]
    done = subprocess.run(command, check=False, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]

    body = json.loads((out / "results.json").read_text())
    assert body["errors"] == {}
    assert len(body["figures"]) == 5  # speed and memory on each of two places, then the clip burst
    speeds = [f for f in body["figures"] if "bare aiohttp handler" in f["name"]]
    assert len(speeds) == 2 and all("MB/s" in f["name"] for f in speeds)
    speed = speeds[0]
    data = speed["data"]
    assert len(data["ours_seconds"]) == len(data["bare_seconds"]) == len(data["ratios"]) >= 3
    assert all(s > 0 for s in data["ours_seconds"] + data["bare_seconds"])
    ratios = [b / o for o, b in zip(data["ours_seconds"], data["bare_seconds"], strict=True)]
    assert ratios == pytest.approx(data["ratios"])
    assert speed["value"] == pytest.approx(sorted(ratios)[len(ratios) // 2])
    memory = next(f for f in body["figures"] if f["name"].startswith("server RSS growth"))
    assert len(memory["data"]["ours_mib"]) == len(memory["data"]["bare_mib"]) == len(ratios)
    clips = next(f for f in body["figures"] if f["name"].startswith("100 kB clips"))
    assert clips["data"]["rates"] and all(r > 0 for r in clips["data"]["rates"])
