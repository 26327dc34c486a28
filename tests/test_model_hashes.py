"""The pip-shipped base model is joined and every file checked against its pinned sha256."""

from __future__ import annotations

from pathlib import Path

import pytest

from transcriber.speech import models


def test_joined_base_model_matches_its_pinned_hashes(tmp_path: Path) -> None:
    joined = models.packaged_model("base", tmp_path)
    assert joined is not None and models.is_model_dir(joined)
    pinned = next(iter(models.BASE_SHA256.values()))
    assert {name: models.sha256_of(joined / name) for name in pinned} == pinned


def test_a_tampered_model_file_is_refused_with_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.bin").write_bytes(b"weights")
    expected = {"model.bin": models.sha256_of(folder / "model.bin")}
    models.verify_files(folder, expected)
    (folder / "model.bin").write_bytes(b"weightz")
    with pytest.raises(models.ModelNotFound) as caught:
        models.verify_files(folder, expected)
    message = str(caught.value)
    assert "model.bin" in message and "sha256" in message and "\n" not in message
    with pytest.raises(models.ModelNotFound, match="missing"):
        models.verify_files(folder, {"config.json": "0" * 64})
