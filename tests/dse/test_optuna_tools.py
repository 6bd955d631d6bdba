"""Optuna's own tools (optuna-dashboard, ``study.best_trials``) read dse studies correctly."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from dse import load_spec, open_storage, run_study
from dse._study import named_constraints


@pytest.mark.parametrize("mode", ["trial", "sweep"])
def test_constraints_in_the_list_form_optuna_dashboard_reads(
    study_file, tmp_path: Path, mode: str
) -> None:
    path = study_file(mode=mode, n_trials=40, extra_space="""
        [space.override]
        "demo.x" = { steps = 21 }
        "demo.y" = { steps = 5 }
    """, body="""
        [[constraints]]
        metric = "demo.f2"
        max = 1.0

        [sweep]
        sample_rest = 40
    """)
    storage = str(tmp_path / "s.journal")
    run_study(load_spec(path).with_overrides(storage=storage))
    study = optuna.load_study(study_name="demo", storage=open_storage(storage))
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert complete
    infeasible = 0
    for t in complete:
        listed = t.system_attrs["constraints"]
        assert listed == list(named_constraints(t).values())
        infeasible += any(v > 0 for v in listed)
    assert infeasible > 0  # the check below means something
    # What optuna-dashboard shows as best: every one feasible by the list alone.
    for t in study.best_trials:
        assert all(v <= 0 for v in t.system_attrs["constraints"])
