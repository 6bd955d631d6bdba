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


def test_the_stored_spec_is_compact_and_the_full_one_kept(study_file, tmp_path: Path) -> None:
    import json

    from dse._study import stored_spec

    storage_path = str(tmp_path / "s.journal")
    spec = load_spec(study_file(n_trials=4)).with_overrides(storage=storage_path, workers=1,
                                                             seed=7)
    run_study(spec)
    storage = open_storage(storage_path)
    study = optuna.load_study(study_name="demo", storage=storage)
    # `optuna studies` prints every user attr: the spec there is a digest and a short form.
    short = study.user_attrs["dse.spec"]
    assert set(short) == {"digest", "file", "study"} and len(json.dumps(short)) < 400
    assert stored_spec(storage, "demo") == spec.raw
    ran = study.user_attrs["dse.last_run"]
    assert ran["n_trials"] == 4 and ran["seed"] == 7 and ran["executor"] == "serial"
