"""``dse show``, ``dse init`` and ``dse cache``."""

from __future__ import annotations

from pathlib import Path

import pytest

from dse import shipped_studies
from dse.cli import main


def test_show_prints_the_shipped_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "demo"]) == 0
    assert capsys.readouterr().out == shipped_studies()["demo"].read_text()


def test_init_copies_and_never_overwrites(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "vegeta", str(tmp_path / "mine")]) == 0
    copied = tmp_path / "mine.toml"  # the extension is added
    assert copied.read_text() == shipped_studies()["vegeta"].read_text()
    copied.write_text("# edited\n")
    assert main(["init", "vegeta", str(copied)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already exists" in err[0]
    assert copied.read_text() == "# edited\n"
    assert main(["init", "demo", str(tmp_path)]) == 0  # a folder: NAME.toml inside it
    assert (tmp_path / "demo.toml").is_file()
    assert main(["init", "no_such_study", str(tmp_path / "x")]) == 2


def test_cache_lists_and_clears_only_its_own_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DSE_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["cache"]) == 0
    assert "no caches" in capsys.readouterr().out
    (tmp_path / "cache" / "nm_training" / "ab").mkdir(parents=True)
    (tmp_path / "cache" / "nm_training" / "ab" / "k.json").write_text("{}")
    (tmp_path / "cache" / "other").mkdir()
    outside = tmp_path / "keep.txt"
    outside.write_text("x")
    assert main(["cache"]) == 0
    assert "nm_training: 1 files" in capsys.readouterr().out
    assert main(["cache", "--clear", "nope"]) == 2
    assert main(["cache", "--clear", "nm_training"]) == 0
    assert not (tmp_path / "cache" / "nm_training").exists()
    assert (tmp_path / "cache" / "other").is_dir() and outside.read_text() == "x"
    assert main(["cache", "--clear"]) == 0
    assert not (tmp_path / "cache" / "other").exists() and outside.exists()
