"""The evolutionary sweep's default population is sized from the space, and with the defaults
it reaches the true front's hypervolume on a shipped study (the ground truth computed here)."""

from __future__ import annotations

from dse import load_spec, reference_point
from dse._problem import Problem
from dse._spec import SweepSpec
from dse._sweep import run_sweep


def test_population_is_sized_from_the_space() -> None:
    auto = SweepSpec()
    assert auto.population == 0 and auto.generations == 40
    assert auto.population_for(34_560) == 172
    assert auto.population_for(1_000) == 32 and auto.population_for(10**8) == 512
    assert auto.population_for(None) == 128
    assert SweepSpec(population=64).population_for(10**8) == 64


def test_default_evolutionary_sweep_reaches_99_percent_of_vegetas_true_hypervolume() -> None:
    problem = Problem(load_spec("vegeta"))
    truth = run_sweep(problem, SweepSpec(method="exhaustive", sample_rest=0, save="none"),
                      seed=0).front["__F"]
    ref = reference_point(truth, problem.directions)
    true_hv = ref.hypervolume(truth)
    for seed in (0, 1, 2):
        found = run_sweep(problem, SweepSpec(method="evolutionary", sample_rest=0, save="none"),
                          seed=seed).front["__F"]
        assert ref.hypervolume(found) >= 0.99 * true_hv


def test_chunks_holding_only_repeated_designs_reach_no_model() -> None:
    # vegeta's space has 34,560 raw points and 7,440 distinct designs: with chunks of 2**14
    # some chunks hold only repeats of designs already enumerated (an empty batch).
    import numpy as np

    problem = Problem(load_spec("vegeta"))
    empty = problem.space.point(np.arange(0, 0, dtype=np.int64), distinct=True)
    ev = problem.evaluate(empty)
    assert ev.F.shape == (0, 3)
    small = run_sweep(problem, SweepSpec(method="exhaustive", chunk_size=1 << 14, sample_rest=0,
                                         save="none"), seed=0)
    whole = run_sweep(problem, SweepSpec(method="exhaustive", sample_rest=0, save="none"), seed=0)
    assert sorted(map(tuple, small.front["__F"])) == sorted(map(tuple, whole.front["__F"]))
