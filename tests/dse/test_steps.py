"""Parameters with ``steps`` keep their top value exactly, in every mode."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    distribution_to_json,
    json_to_distribution,
)

from dse import load_spec, open_storage, run_study
from dse._optuna_bridge import distribution, suggest
from search_spaces import Float, ParamError


RANGES = [(0.0, 1.0), (-3.0, 7.0), (0.5, 2.5), (0.0, 0.3), (1e-3, 1.0)]


def _holds(d: optuna.distributions.BaseDistribution, value: float) -> bool:
    """Whether ``value`` is exactly one of the distribution's values."""
    if isinstance(d, CategoricalDistribution):
        return value in d.choices
    assert isinstance(d, FloatDistribution) and d.step is not None
    return d.low <= value <= d.high and d._contains(d.to_internal_repr(value))


@pytest.mark.parametrize(("low", "high"), RANGES)
def test_every_step_count_keeps_the_grid_and_its_top(low: float, high: float) -> None:
    for steps in range(2, 1001):
        for log in (False, True) if low > 0 else (False,):
            p = Float("x", low, high, steps=steps, log=log)
            d = distribution(p)
            grid = p.values()
            assert grid is not None and grid[-1] == high
            assert all(_holds(d, float(v)) for v in (grid[0], grid[len(grid) // 2], grid[-1])), \
                (low, high, steps, log)
            if isinstance(d, FloatDistribution):
                assert d.high == high and d.low + (steps - 1) * d.step == high
            # a storage round trip (how every journal or RDB trial reads back) keeps it too
            again = json_to_distribution(distribution_to_json(d))
            assert again == d and _holds(again, high)


def test_a_decimal_friendly_grid_stays_a_step_distribution() -> None:
    d = distribution(Float("x", 0.0, 1.0, steps=11))
    assert isinstance(d, FloatDistribution) and d.step == pytest.approx(0.1) and d.high == 1.0


def test_trial_mode_proposes_the_top_value() -> None:
    space_param = Float("x", 0.0, 1.0, steps=10)
    from search_spaces import Space

    space = Space(params=(space_param,), name="t")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(200):
        trial = study.ask()
        seen.add(suggest(trial, space)["x"])
        study.tell(trial, 0.0)
    assert seen == {float(v) for v in space_param.values()}  # 1.0 included, nothing else


def test_a_sweep_records_the_top_value(study_file, tmp_path: Path) -> None:
    path = study_file(mode="sweep", extra_space="""
        [space.override]
        "demo.x" = { steps = 10 }
        "demo.y" = [0.0]
        "demo.level" = 0
    """, body="""
        [sweep]
        sample_rest = 0
    """)
    storage = str(tmp_path / "s.journal")
    summary = run_study(load_spec(path).with_overrides(storage=storage))
    assert summary.sweep["front"] == 10
    study = optuna.load_study(study_name="demo", storage=open_storage(storage))
    xs = sorted(t.params["demo.x"] for t in study.trials)
    assert xs[-1] == 1.0 and len(xs) == 10


@pytest.mark.parametrize("steps", [2.5, True, "3", 0])
def test_steps_must_be_a_positive_integer(steps: object) -> None:
    with pytest.raises(ParamError, match="steps"):
        Float("x", 0.0, 1.0, steps=steps)  # type: ignore[arg-type]


def test_sweep_studies_explain_the_keys_they_ignore(study_file, capsys, tmp_path: Path) -> None:
    from dse.cli import main

    spec = load_spec(study_file(mode="sweep"))
    assert len(spec.notes) == 1
    assert "[sampler] and budget.n_trials not used in sweep mode" in spec.notes[0]
    assert load_spec(study_file(mode="trial")).notes == ()
    path = study_file(mode="sweep", extra_space="""
        [space.override]
        "demo.x" = { steps = 3 }
        "demo.y" = [0.0]
    """)
    assert main(["run", str(path), "--storage", str(tmp_path / "s.journal"), "--quiet"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dse: note: ")
