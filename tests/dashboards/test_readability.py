"""What makes a study page readable at a glance: sweep pages, hidden infeasible crowds, log
axes, plain tick numbers, short labels, and panels that say why they have nothing to show."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import numpy as np
import optuna
import pytest

from dashboards._data import study_data
from dashboards._figures import (
    importance_figure,
    parallel_coordinates,
    pareto_2d,
    short_label,
    study_panels,
    study_summary,
    tick_format,
    wrapped_label,
)


def _sweep_study(studies: ModuleType, history: dict[str, Any] | None) -> optuna.Study:
    summary: dict[str, Any] = {"evaluated": 1_166_400, "front": 5, "front_recorded": 5,
                               "seconds": 7.3}
    if history is not None:
        summary["history"] = history
    study = studies.make_study(optuna.storages.InMemoryStorage(), "sweep",
                               ["minimize", "minimize"], **{"dse.mode": "sweep",
                                                            "dse.sweep_summary": summary})
    x = np.linspace(0.0, 1.0, 5)
    front = [studies.simple_trial(k, [float(v), float(1 - v)], {"a": float(v)},
                                  {"dse.pareto": True}) for k, v in enumerate(x)]
    rest = [studies.simple_trial(5 + k, [0.9 + k, 0.9 + k], {"a": 0.5}) for k in range(3)]
    study.add_trials(front + rest)
    return study


def test_a_sweep_page_states_its_sample_and_plots_its_own_progress(
    studies: ModuleType,
) -> None:
    history = {"evaluated": [65536, 131072, 1_166_400], "front": [2, 4, 5],
               "hypervolume": [0.5, 0.7, 0.8]}
    data = study_data(_sweep_study(studies, history))
    ids = [p.id for p in study_panels(data)]
    assert "sweep" in ids
    assert not {"hypervolume", "best", "violations"} & set(ids)  # trial order means nothing
    assert "8 of 1,166,400 evaluated designs shown" in study_summary(data)
    sweep = next(p for p in study_panels(data) if p.id == "sweep")
    assert sweep.figure is not None
    front, hv = sweep.figure.data
    assert list(front.x) == [65536, 131072, 1_166_400] and list(front.y) == [2, 4, 5]
    assert list(hv.y) == [0.5, 0.7, 0.8]
    # A sweep recorded before the history existed says so instead of drawing nothing.
    old = next(p for p in study_panels(study_data(_sweep_study(studies, None)))
               if p.id == "sweep")
    assert old.figure is None and "no per-chunk history" in old.note


def _crowded_study(studies: ModuleType, n_infeasible: int) -> optuna.Study:
    study = studies.make_study(optuna.storages.InMemoryStorage(), "crowd",
                               ["minimize", "minimize"])
    x = np.linspace(0.0, 1.0, 4)
    trials = [studies.simple_trial(k, [10.0 ** (4 * v), 1.0 - v], {"a": float(v)},
                                   constraints={"budget": -1.0}) for k, v in enumerate(x)]
    trials += [studies.simple_trial(4 + k, [0.5, 0.1], {"a": 0.3},
                                    constraints={"budget": 1.0}) for k in range(n_infeasible)]
    study.add_trials(trials)
    return study


def test_infeasible_points_start_hidden_when_they_outnumber_the_front(
    studies: ModuleType,
) -> None:
    crowded = study_data(_crowded_study(studies, 10))
    traces = {t.name.split(" (")[0]: t for t in pareto_2d(crowded).data if t.name}
    assert traces["infeasible"].visible == "legendonly"
    assert "10, hidden: click to show" in traces["infeasible"].name
    assert "outnumber the front and start hidden" in study_summary(crowded)
    few = study_data(_crowded_study(studies, 2))
    traces = {t.name.split(" (")[0]: t for t in pareto_2d(few).data if t.name}
    assert traces["infeasible"].visible is None


def test_axes_spanning_decades_are_log_and_ticks_are_plain_numbers(
    studies: ModuleType,
) -> None:
    data = study_data(_crowded_study(studies, 0))  # f1 from 1 to 1e4, f2 within [0, 1]
    fig = pareto_2d(data)
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "linear"
    dims = {d.label: d for d in parallel_coordinates(data).data[0].dimensions}
    log = next(d for label, d in dims.items() if label.startswith("demo") or "(log)" in label)
    assert "(log)" in log.label and list(log.ticktext)[0] == "1e0"
    assert tick_format(np.array([3.2e19, 4.6e19])) == ".3~e"  # never 4.5×10<sup>19</sup>
    assert tick_format(np.array([1.0, 250.0])) == ",.6~g"


def test_labels_are_short_with_the_full_name_kept() -> None:
    assert short_label("comet.time_to_train_days [days]", 30) == "time_to_train_days [days]"
    assert short_label("vegeta.area_rel [x RASA-DM]", 12) == "area_rel [x…"
    assert "<br>" in wrapped_label("vegeta.area_rel [x RASA-DM]")


def test_parcoords_keeps_full_names_for_hover_and_lets_axes_be_picked(
    studies: ModuleType,
) -> None:
    study = studies.make_study(optuna.storages.InMemoryStorage(), "wide",
                               ["minimize", "minimize"])
    names = [f"namespace.parameter_number_{i}" for i in range(16)]
    rng = np.random.default_rng(0)
    study.add_trials([studies.simple_trial(k, list(rng.random(2)),
                                           {n: float(rng.uniform(0.5, 1.0)) for n in names})
                      for k in range(12)])
    fig = parallel_coordinates(study_data(study))
    meta = fig.layout.meta
    dims = fig.data[0].dimensions
    assert meta["axisPicker"] and all(meta["fullLabels"][d.label] for d in dims)
    assert all(len(d.label) <= 18 for d in dims)
    assert {meta["fullLabels"][d.label] for d in dims} >= set(names)
    assert sum(bool(d.visible) for d in dims) == 12 + 2 + 1  # 12 params, 2 objectives, front


def test_importance_counts_every_completed_trial(studies: ModuleType) -> None:
    study = studies.make_study(optuna.storages.InMemoryStorage(), "few",
                               ["minimize", "minimize"])
    trials = [studies.simple_trial(k, [float(k), 1.0 / (k + 1)], {"a": k / 10})
              for k in range(5)]
    trials.append(studies.simple_trial(5, [float("inf"), 1.0], {"a": 0.9}))
    study.add_trials(trials)
    fig, note = importance_figure(study_data(study))
    assert fig is None and note.endswith("(this study has 6)")


@pytest.mark.parametrize("equal", [True, False])
def test_equal_importances_are_explained_not_drawn(
    studies: ModuleType, monkeypatch: pytest.MonkeyPatch, equal: bool
) -> None:
    study = studies.make_study(optuna.storages.InMemoryStorage(), "flat",
                               ["minimize", "minimize"])
    rng = np.random.default_rng(1)
    study.add_trials([studies.simple_trial(k, list(rng.random(2)),
                                           {"a": float(rng.random()), "b": float(rng.random())})
                      for k in range(12)])
    shares = {"a": 0.5, "b": 0.5} if equal else {"a": 0.8, "b": 0.2}
    # optuna.importance starts as a lazy proxy; importing it binds the real module there.
    real = importlib.import_module("optuna.importance")
    monkeypatch.setattr(real, "get_param_importances", lambda *a, **k: dict(shares))
    monkeypatch.setattr(optuna, "importance", real)
    fig, note = importance_figure(study_data(study))
    if equal:
        assert fig is None and "same importance (0.5)" in note and "12 trials" in note
    else:
        assert fig is not None and note == ""
