from __future__ import annotations

import itertools

import numpy as np
import pytest
from optuna._hypervolume import compute_hypervolume

from dse import hypervolume, hypervolume_history, pareto_mask, reference_point


def brute_pareto(values: np.ndarray) -> np.ndarray:
    n = len(values)
    mask = np.ones(n, dtype=bool)
    for i, j in itertools.product(range(n), range(n)):
        if np.all(values[j] <= values[i]) and np.any(values[j] < values[i]):
            mask[i] = False
    return mask & np.all(np.isfinite(values), axis=1)


def test_unit_box_and_simple_fronts() -> None:
    assert hypervolume(np.array([[0.0, 0.0]]), np.array([1.0, 1.0])) == pytest.approx(1.0)
    # Two points on a staircase: 0.5 * 1 + 0.5 * 0.5 = 0.75.
    assert hypervolume(np.array([[0.0, 0.5], [0.5, 0.0]]), np.array([1.0, 1.0])) == 0.75
    assert hypervolume(np.zeros((1, 3)), np.ones(3)) == pytest.approx(1.0)
    assert hypervolume(np.empty((0, 2)), np.ones(2)) == 0.0


def test_zdt1_front_hypervolume_is_two_thirds() -> None:
    # ZDT1 front f2 = 1 - sqrt(f1) against (1, 1): the box minus the area under the front,
    # 1 - integral_0^1 (1 - sqrt(x)) dx = 1 - 1/3 = 2/3.
    f1 = np.linspace(0.0, 1.0, 20001)
    front = np.column_stack([f1, 1.0 - np.sqrt(f1)])
    assert hypervolume(front, np.array([1.0, 1.0])) == pytest.approx(2.0 / 3.0, abs=1e-3)


@pytest.mark.parametrize("m", [2, 3, 4])
@pytest.mark.parametrize("n", [1, 7, 60])
def test_agrees_with_optuna_exact(m: int, n: int) -> None:
    rng = np.random.default_rng(m * 100 + n)
    values = rng.random((n, m))
    ref = np.full(m, 1.1)
    assert hypervolume(values, ref) == pytest.approx(compute_hypervolume(values, ref), abs=1e-12)


def test_large_3d_front_spans_several_blocks() -> None:
    rng = np.random.default_rng(1)
    values = rng.random((1300, 3))
    values /= np.linalg.norm(values, axis=1, keepdims=True)  # all mutually non-dominated
    ref = np.full(3, 1.1)
    assert hypervolume(values, ref) == pytest.approx(compute_hypervolume(values, ref), rel=1e-12)


def test_points_outside_reference_and_nan_add_nothing() -> None:
    ref = np.array([1.0, 1.0])
    base = hypervolume(np.array([[0.5, 0.5]]), ref)
    extra = np.array([[0.5, 0.5], [2.0, 0.0], [0.0, 1.0], [np.nan, 0.1]])
    assert hypervolume(extra, ref) == base == 0.25


def test_bad_shapes_are_value_errors() -> None:
    with pytest.raises(ValueError, match="shape"):
        hypervolume(np.zeros((3, 2)), np.ones(3))
    with pytest.raises(ValueError, match="finite"):
        hypervolume(np.zeros((3, 2)), np.array([1.0, np.inf]))


@pytest.mark.parametrize("m", [2, 3, 4])
def test_history_equals_hypervolume_of_each_prefix(m: int) -> None:
    rng = np.random.default_rng(m)
    values = rng.random((40, m))
    values[5] = np.nan  # a failed trial
    feasible = rng.random(40) > 0.2
    ref = np.full(m, 1.0)
    history = hypervolume_history(values, ref, feasible)
    assert history.shape == (40,)
    assert np.all(np.diff(history) >= -1e-12)
    for i in range(40):
        ok = feasible[: i + 1] & np.all(np.isfinite(values[: i + 1]), axis=1)
        assert history[i] == pytest.approx(hypervolume(values[: i + 1][ok], ref), abs=1e-12)


def test_history_time_budget_leaves_nan_after_it() -> None:
    values = np.random.default_rng(3).random((30, 4))
    ref = np.full(4, 1.0)
    assert np.isnan(hypervolume_history(values, ref, time_budget_s=0.0)).all()
    full = hypervolume_history(values, ref, time_budget_s=60.0)
    assert np.array_equal(full, hypervolume_history(values, ref))


@pytest.mark.parametrize("m", [2, 3])
def test_pareto_mask_matches_brute_force(m: int) -> None:
    rng = np.random.default_rng(7)
    values = rng.integers(0, 5, size=(80, m)).astype(float)  # many ties and duplicates
    values[3] = [np.nan] * m
    assert np.array_equal(pareto_mask(values), brute_pareto(values))


def test_reference_point_is_nadir_times_1_1_in_normalised_units() -> None:
    front = np.array([[1.0, -30.0], [3.0, -10.0]])  # second objective maximised: -accuracy
    ref = reference_point(front, ["minimize", "maximize"])
    assert np.allclose(ref.point, [1.1, 1.1])
    assert np.allclose(ref.normalize(front), [[0.0, 0.0], [1.0, 1.0]])
    # In the objectives' own units: 1 + 1.1 * 2 = 3.2 ms, accuracy -(-30 + 1.1 * 20) = 8.
    assert np.allclose(ref.point_in_units(["minimize", "maximize"]), [3.2, 8.0])


def test_declared_reference_point_is_used() -> None:
    front = np.array([[1.0, 2.0], [2.0, 1.0]])
    ref = reference_point(front, ["minimize", "minimize"], declared=[4.0, 3.0])
    assert np.allclose(ref.point, [3.0, 2.0])
    assert ref.source == "declared reference point" and not ref.fixed
    with pytest.raises(ValueError, match="2 finite values"):
        reference_point(front, ["minimize", "minimize"], declared=[1.0])
