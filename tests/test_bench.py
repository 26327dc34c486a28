"""Smoke test of the benchmark (bench/): it runs end to end on tiny inputs and writes its outputs.

No timing assertions: the figures depend on the machine. The bench's own recordings live outside
the repository, so this test hands it two of the project's generated clips instead.
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
FIGURE_KEYS = {"target", "name", "value", "unit", "goal", "met", "detail", "data"}


@pytest.mark.slow
@pytest.mark.long
def test_bench_quick_run_writes_table_json_and_chart(tmp_path: Path) -> None:
    audio = tmp_path / "audio"
    audio.mkdir()
    shutil.copy(CLIPS / "numbers.flac", audio / "jfk.flac")
    shutil.copy(CLIPS / "speech.mp3", audio / "multilingual.mp3")
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "bench",
        "--quick",
        "--only",
        "startup,overhead,short",
        "--audio-dir",
        str(audio),
        "--out",
        str(out),
        "--models-dir",
        str(tmp_path / "models"),
    ]
    done = subprocess.run(command, check=False, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]

    table = (out / "results.md").read_text()
    header, _, figures = table.partition("\n\n")
    assert header.startswith("Machine: ") and "cores" in header and "steal time" in header and "MB/s" in header
    assert figures.startswith("| # | figure | value | target | met | detail |")
    assert table in done.stdout
    body = json.loads((out / "results.json").read_text())
    assert set(body) == {"meta", "figures", "throughput", "errors"}
    assert body["errors"] == {}
    assert body["meta"]["cases"] == ["startup", "overhead", "short"]
    machine = body["meta"]["machine_measured"]
    assert machine["cores"] >= 1 and machine["cpu"] and machine["disk"]["write_fsync_mb_s"] > 0
    assert machine["steal_share"] is None or 0 <= machine["steal_share"] < 1
    short = [f for f in body["figures"] if f["name"].startswith("short jobs")]
    assert len(short) == 2 and all(len(f["data"]["ratios"]) >= 3 for f in short)
    assert {"total_seconds", "cpu_count", "versions", "case_seconds"} <= set(body["meta"])
    assert {f["target"] for f in body["figures"]} == {1, 6, 7}
    for figure in body["figures"]:
        assert set(figure) == FIGURE_KEYS
        assert figure["name"] in table
    assert all({"group", "label", "audio_seconds", "wall_seconds", "rate"} <= set(t) for t in body["throughput"])
    assert (out / "throughput.png").read_bytes().startswith(b"\x89PNG")


def test_bench_rejects_an_unknown_case() -> None:
    command = [sys.executable, "-m", "bench", "--only", "nonsense"]
    done = subprocess.run(command, check=False, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "unknown case" in done.stderr
