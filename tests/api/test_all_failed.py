"""A run in which every trial failed exits non-zero, with the reasons summarized."""

from __future__ import annotations

from pathlib import Path

import pytest

from dse.cli import main
from tests.conftest import write_study


def test_every_trial_failing_exits_1_naming_the_reason(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write_study(tmp_path, options="raise_above = -1.0", n_trials=4)
    code = main(["run", str(path), "--storage", str(tmp_path / "s.journal"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1
    assert "every trial of this run failed (4)" in err and "4 x " in err
    assert len(err.strip().splitlines()) == 1


def test_some_failures_still_exit_0(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write_study(tmp_path, options="raise_above = 0.5", n_trials=8)
    code = main(["run", str(path), "--storage", str(tmp_path / "s.journal"), "--quiet"])
    assert code == 0, capsys.readouterr().err
