"""The evolutionary search (dse._evolution): survival order, design keys, no design evaluated
twice, determinism per seed, and a resumed search continuing the same sequence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dse import load_spec
from dse._evolution import crowding_distance, design_keys, planned_evaluations, survive
from dse._problem import Problem
from dse._spec import SweepSpec
from dse._sweep import run_sweep
from search_spaces import Categorical, Condition, Fixed, Float, Int, Space


class Killed(BaseException):
    """Stands for SIGKILL: nothing in the engine catches it."""


def test_crowding_distance_sums_normalised_neighbour_gaps() -> None:
    F = np.array([[0.0, 4.0], [1.0, 3.0], [3.0, 1.0], [4.0, 0.0], [2.0, 2.0]])
    d = crowding_distance(F)
    assert np.isinf(d[[0, 3]]).all()
    # (f1 gap + f2 gap) / span 4 for the three interior points.
    assert d[1] == pytest.approx((2 - 0) / 4 + (4 - 2) / 4)
    assert d[4] == pytest.approx((3 - 1) / 4 + (3 - 1) / 4)
    flat = crowding_distance(np.array([[1.0, 0.0], [1.0, 1.0], [1.0, 2.0]]))
    assert np.isinf(flat[[0, 2]]).all() and flat[1] == pytest.approx(1.0)  # no span: no gap


def test_survival_takes_fronts_then_crowding_then_least_violation() -> None:
    F = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [1.0, 1.0], [0.0, 0.0], [0.2, 0.2]])
    G = np.array([[0.0], [0.0], [0.0], [0.0], [3.0], [1.0]])  # the last two are infeasible
    ok = np.ones(6, dtype=bool)
    assert list(survive(F, G, ok, 3)) == [0, 1, 2]
    assert list(survive(F, G, ok, 5)) == [0, 1, 2, 3, 5]  # then the least violating
    failed = ok.copy()
    failed[5] = False  # a failed point ranks after every infeasible one
    assert list(survive(F, G, failed, 6)) == [0, 1, 2, 3, 4, 5]


def _toy_space() -> Space:
    return Space(
        params=(
            Int("n", 1, 4),
            Categorical("recipe", ("dense", "srste", "sdgf")),
            Int("k", 1, 3, condition=Condition("recipe", ("sdgf",)), default_value=2),
            Float("lr", 0.001, 0.1, log=True, steps=5),
            Int("batch", 8, 256, log=True),
            Fixed("clock", 2.0),
        ),
        name="toy",
    )


def test_design_keys_name_exactly_the_designs_decode_gives() -> None:
    space = _toy_space()
    U = np.random.default_rng(0).random((5000, len(space.searched)))
    keys = design_keys(space, U)
    assert keys is not None
    batch = space.decode(U)
    designs = [tuple(str(batch[p.name][i]) for p in space.searched) for i in range(len(U))]
    by_key: dict[int, set[tuple[str, ...]]] = {}
    for key, design in zip(keys.tolist(), designs, strict=True):
        by_key.setdefault(key, set()).add(design)
    assert all(len(v) == 1 for v in by_key.values())  # one key, one design
    assert len(by_key) == len(set(designs))  # one design, one key (inactive k folded)
    continuous = Space(params=(Int("n", 1, 4), Float("x", 0.0, 1.0)), name="c")
    assert design_keys(continuous, U[:, :2]) is None


def _vegeta() -> Problem:
    return Problem(load_spec("vegeta"))


def _spec(**kw: Any) -> SweepSpec:
    return SweepSpec(method="evolutionary", sample_rest=0, save="none", **kw)


def test_a_finite_space_search_never_evaluates_a_design_twice() -> None:
    problem = _vegeta()
    seen: list[np.ndarray] = []

    def evaluate(batch: dict[str, np.ndarray]) -> Any:
        U = problem.space.encode(batch)
        keys = design_keys(problem.space, U)
        assert keys is not None
        seen.append(keys)
        return problem.evaluate(batch)

    spec = _spec(population=32, generations=12)
    result = run_sweep(problem, spec, seed=3, population_evaluator=evaluate)
    every = np.concatenate(seen)
    assert len(every) == len(np.unique(every)) == result.evaluated
    assert result.evaluated <= planned_evaluations(spec, problem.space.size)


def test_the_search_is_deterministic_per_seed() -> None:
    problem = _vegeta()
    spec = _spec(population=32, generations=6)
    a, b = (run_sweep(problem, spec, seed=7) for _ in range(2))
    assert a.evaluated == b.evaluated
    assert np.array_equal(a.front["__F"], b.front["__F"])
    c = run_sweep(problem, spec, seed=8)
    assert c.evaluated != a.evaluated or not np.array_equal(c.front["__F"], a.front["__F"])


def test_a_killed_search_resumes_the_same_sequence(tmp_path: Path) -> None:
    problem = _vegeta()
    spec = _spec(population=32, generations=8)
    whole = run_sweep(problem, spec, seed=5)
    calls = {"n": 0}

    def dies_at_the_fourth_generation(batch: dict[str, np.ndarray]) -> Any:
        calls["n"] += 1
        if calls["n"] == 4:
            raise Killed
        return problem.evaluate(batch)

    with pytest.raises(Killed):
        run_sweep(problem, spec, seed=5, sweep_dir=tmp_path, fingerprint="f",
                  population_evaluator=dies_at_the_fourth_generation)
    resumed = run_sweep(problem, spec, seed=5, sweep_dir=tmp_path, fingerprint="f")
    assert resumed.evaluated == whole.evaluated
    assert sorted(map(tuple, resumed.front["__F"])) == sorted(map(tuple, whole.front["__F"]))


def test_every_generation_is_reported_even_without_new_designs() -> None:
    problem = _vegeta()
    spec = _spec(population=16, generations=30)
    reported: list[int] = []
    result = run_sweep(problem, spec, seed=1, progress=lambda state: reported.append(state.chunks))
    assert reported == list(range(1, 32))  # generation 0 and each of the 30, in order
    assert result.chunks == 31
    assert result.evaluated < planned_evaluations(spec, problem.space.size)  # repeats dropped
