"""A study's hypervolume reference is fixed once, stored with the study, shared by every view."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest

from dse import SpecError, load_spec, open_storage, run_study, study_reference
from dse.cli import study_status


def _hv_after(spec, storage: str, n: int) -> tuple[float, dict]:  # type: ignore[no-untyped-def]
    run_study(spec.with_overrides(n_trials=n, storage=storage))
    row = study_status(storage)[0]
    return row["hypervolume_normalized"], row


def test_reference_is_stored_at_the_first_results_and_status_never_falls(
    study_file, tmp_path: Path
) -> None:
    spec = load_spec(study_file(n_trials=5))
    storage = str(tmp_path / "s.journal")
    hv5, row = _hv_after(spec, storage, 5)
    study = optuna.load_study(study_name="demo", storage=open_storage(storage))
    # Five results are not enough to fix a reference: status says it is provisional.
    assert "dse.reference" not in study.user_attrs
    assert row["hypervolume_reference"].startswith("provisional")
    history = []
    for n in (12, 20, 40, 60):
        hv, row = _hv_after(spec, storage, n)
        study = optuna.load_study(study_name="demo", storage=open_storage(storage))
        feasible = sum(t.state == optuna.trial.TrialState.COMPLETE
                       and all(v <= 0 for v in t.constraints.values()) for t in study.trials)
        # Runs draw fresh seeds, so how many of the first trials are feasible varies: the
        # reference is fixed exactly once 10 feasible results exist, and from then on the
        # hypervolume never falls.
        fixed = row["hypervolume_reference"].startswith("fixed: first")
        assert fixed == ("dse.reference" in study.user_attrs)
        if feasible >= 10:
            assert fixed
            history.append(hv)
    assert len(history) >= 2
    stored = optuna.load_study(study_name="demo", storage=open_storage(storage)).user_attrs
    assert stored["dse.reference"]["source"].startswith("first")
    assert np.all(np.diff(history) >= 0), history


def test_declared_bounds_fix_the_reference_at_creation(study_file, tmp_path: Path) -> None:
    path = study_file(n_trials=3)
    text = path.read_text().replace('metric = "demo.f1"', 'metric = "demo.f1"\nbounds = [0, 1]')
    text = text.replace('metric = "demo.f2"', 'metric = "demo.f2"\nbounds = [0, 1]')
    path.write_text(text)
    storage = str(tmp_path / "s.journal")
    hv, row = _hv_after(load_spec(path), storage, 3)
    assert row["hypervolume_reference"] == "fixed: study file bounds"
    study = optuna.load_study(study_name="demo", storage=open_storage(storage))
    ref = study_reference(study.user_attrs, ["minimize", "minimize"])
    assert ref is not None and ref.fixed
    assert np.allclose(ref.point_in_units(["minimize", "minimize"]), [1.0, 1.0])
    F = np.asarray([t.values for t in study.trials if t.values is not None])
    assert hv == pytest.approx(ref.hypervolume(F), abs=1e-6)


@pytest.mark.parametrize("bad", ["[1]", "[0, 0]", '["a", 1]', "[0, inf]", "3"])
def test_malformed_bounds_are_one_line_errors(study_file, bad: str) -> None:
    path = study_file()
    path.write_text(path.read_text().replace('metric = "demo.f1"',
                                             f'metric = "demo.f1"\nbounds = {bad}'))
    with pytest.raises(SpecError, match=r"objectives\[0\]\.bounds: expected"):
        load_spec(path)


def test_run_summary_states_the_fraction_of_a_known_true_hypervolume(tmp_path: Path) -> None:
    from costmodels.demo import front_f2

    spec = load_spec("demo").with_overrides(n_trials=60, storage=str(tmp_path / "s.journal"))
    assert spec.true_hypervolume == pytest.approx(2 / 3)
    summary = run_study(spec)
    assert summary.hypervolume_reference == "fixed: study file bounds"
    assert summary.true_hypervolume_fraction == pytest.approx(summary.hypervolume / (2 / 3))
    # The recorded value is the closed form: the sampled true front has that hypervolume.
    from dse._hypervolume import hypervolume

    f1 = np.linspace(0, 1, 200_001)
    assert hypervolume(np.c_[f1, front_f2(f1)], np.ones(2)) == pytest.approx(2 / 3, abs=1e-5)
    assert 0 <= summary.true_hypervolume_fraction < 1  # 60 trials of TPE: not there yet


def test_status_and_dashboards_agree_without_a_stored_reference(tmp_path: Path) -> None:
    from dashboards._data import study_data
    from dashboards._report import final_hypervolume

    storage = str(tmp_path / "plain.journal")
    study = optuna.create_study(study_name="plain", storage=open_storage(storage),
                                directions=["minimize", "maximize"])
    rng = np.random.default_rng(5)
    for a, b in rng.random((30, 2)) * [10.0, 3.0]:
        study.enqueue_trial({"a": float(a), "b": float(b)})
        t = study.ask()
        study.tell(t, [t.suggest_float("a", 0, 10), t.suggest_float("b", 0, 3) ** 2])
    (row,) = study_status(storage)
    assert row["hypervolume_reference"].startswith("provisional")
    data = study_data(optuna.load_study(study_name="plain", storage=open_storage(storage)))
    assert final_hypervolume(data) == pytest.approx(row["hypervolume_normalized"], abs=1e-6)
