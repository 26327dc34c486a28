"""Result files under <data_dir>/results/<job_id>/, written atomically so a crash leaves no half set."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from transcriber.outputs.cues import CueLayout
from transcriber.outputs.formats import DEFAULT_LAYOUT, FORMATS
from transcriber.outputs.transcript import Transcript


def results_dir(data_dir: Path, job_id: str) -> Path:
    return data_dir / "results" / job_id


def result_path(data_dir: Path, job_id: str, fmt: str) -> Path:
    return results_dir(data_dir, job_id) / f"transcript.{fmt}"


def write_results(data_dir: Path, job_id: str, transcript: Transcript, layout: CueLayout = DEFAULT_LAYOUT) -> Path:
    """Render every format into a temporary folder, fsync it, then swap it into place.

    The files and the temporary folder's entries are fsynced before the rename, and the parent
    after it, so a power cut shows either the old set or the whole new one, never empty files.
    Re-running a job (after a crash) replaces the previous set whole: never duplicates.
    """
    final = results_dir(data_dir, job_id)
    tmp = final.parent / f".{job_id}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    if not final.parent.is_dir():
        final.parent.mkdir(parents=True, exist_ok=True)
        fsync_dir(final.parent.parent)
    tmp.mkdir()
    try:
        for fmt in FORMATS.values():
            _write_synced(tmp / f"transcript.{fmt.name}", fmt.render(transcript, layout))
        fsync_dir(tmp)
    except BaseException:  # a full disk: leave no half set behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = final.parent / f".{job_id}.old"
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    fsync_dir(final.parent)
    shutil.rmtree(old, ignore_errors=True)
    return final


def write_summary(data_dir: Path, job_id: str, text: str) -> None:
    """Callers hold the store's transaction that found the job, so a deleted job stays deleted."""
    folder = results_dir(data_dir, job_id)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / ".summary.txt.tmp"
    _write_synced(tmp, text if text.endswith("\n") or not text else text + "\n")
    os.replace(tmp, folder / "summary.txt")
    fsync_dir(folder)


def remove_results(data_dir: Path, job_id: str) -> None:
    shutil.rmtree(results_dir(data_dir, job_id), ignore_errors=True)


def remove_many_results(data_dir: Path, job_ids: Iterable[str]) -> None:
    """remove_results for a batch (retention): plain string paths, since building Path objects
    cost more than the removals themselves (40 us a job)."""
    folder = os.path.join(data_dir, "results")
    for job_id in job_ids:
        path = os.path.join(folder, job_id)
        if os.path.lexists(path):
            shutil.rmtree(path, ignore_errors=True)


def _write_synced(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
