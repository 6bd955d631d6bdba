"""A front keeps each design once: repeats of one design collapse, distinct ties stay."""

from __future__ import annotations

import optuna
from optuna.distributions import CategoricalDistribution, IntDistribution

from dse._study import pareto_trials


def _trial(params: dict[str, object], values: list[float]) -> optuna.trial.FrozenTrial:
    dists = {"nm.recipe": CategoricalDistribution(["dense", "srste"]),
             "sparsity.n": IntDistribution(1, 4)}
    return optuna.trial.create_trial(params=params, distributions={k: dists[k] for k in params},
                                     values=values)


def test_a_design_drawn_twice_is_on_the_front_once_and_ties_stay() -> None:
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.add_trials([
        _trial({"nm.recipe": "dense"}, [70.0, 2.0]),  # the dense recipe: no ratio drawn
        _trial({"nm.recipe": "dense"}, [70.0, 2.0]),  # proposed again: the same design
        _trial({"nm.recipe": "srste", "sparsity.n": 1}, [68.0, 1.0]),
        _trial({"nm.recipe": "srste", "sparsity.n": 2}, [68.0, 1.0]),  # a tie, another design
        _trial({"nm.recipe": "srste", "sparsity.n": 3}, [60.0, 3.0]),  # dominated
    ])
    assert [t.number for t in pareto_trials(study)] == [0, 2, 3]
