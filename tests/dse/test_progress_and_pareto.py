from __future__ import annotations

import io

import numpy as np
import pytest

from dse import ParetoFront, ReferenceKeeper, hypervolume, nondominated_mask, pareto_ranks
from dse._pareto import dominated_by
from dse._progress import Progress


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _brute(F: np.ndarray) -> np.ndarray:
    dom = ((F[None] <= F[:, None]).all(2) & (F[None] < F[:, None]).any(2)).any(1)
    return ~dom


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_nondominated_mask_matches_brute_force(m: int) -> None:
    rng = np.random.default_rng(m)
    for F in (rng.random((700, m)), rng.integers(0, 6, (700, m)).astype(float)):
        assert (nondominated_mask(F) == _brute(F)).all()


def test_dominated_by_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    for m in (2, 3):
        P = rng.integers(0, 20, (500, m)).astype(float)
        Q = rng.integers(0, 20, (80, m)).astype(float)
        brute = ((Q[None] <= P[:, None]).all(2) & (Q[None] < P[:, None]).any(2)).any(1)
        assert (dominated_by(P, Q) == brute).all()


def test_streaming_front_equals_batch_front() -> None:
    rng = np.random.default_rng(1)
    F = rng.random((120_000, 2))
    front = ParetoFront(2)
    for s in range(0, len(F), 40_000):
        front.update(F[s:s + 40_000], lambda idx, s=s: {"i": idx + s})
    assert sorted(front.payload["i"].tolist()) == np.flatnonzero(nondominated_mask(F)).tolist()


def test_hypervolume_known_values() -> None:
    x = np.linspace(0, 1, 4001)
    zdt1 = np.c_[x, 1 - np.sqrt(x)]
    assert hypervolume(zdt1, np.array([1.0, 1.0])) == pytest.approx(2 / 3, abs=1e-3)
    cube = np.array([[0.5, 0.5, 0.5]])
    assert hypervolume(cube, np.ones(3)) == pytest.approx(0.125)
    assert hypervolume(np.array([[2.0, 2.0]]), np.ones(2)) == 0.0  # outside the box


class _Study:
    """The two study methods the reference keeper uses."""

    def __init__(self) -> None:
        self.user_attrs: dict = {}

    def set_user_attr(self, key: str, value: object) -> None:
        self.user_attrs[key] = value


def test_progress_bar_on_a_terminal_and_plain_lines_off_it() -> None:
    tty, pipe = _Tty(), io.StringIO()
    for stream in (tty, pipe):
        keeper = ReferenceKeeper(_Study(), ["minimize", "maximize"], bounds=[(0, 2), (3, 0)])
        p = Progress(10, ["a", "b"], [1.0, -1.0], stream=stream, interval=0.0,
                     reference=keeper, log_every=0.0)
        p.add(np.array([[1.0, -2.0], [0.5, -1.0]]), np.array([True, True]), 2)
        p.close()
    out = tty.getvalue()
    assert "2/10" in out and "a=0.5" in out and "b=2" in out and "HV=" in out
    lines = pipe.getvalue().splitlines()
    assert lines and all(line.startswith("[dse] ") for line in lines)
    assert "2/10 trials" in lines[-1] and "ETA" in lines[-1] and "HV=" in lines[-1]
    quiet = _Tty()
    Progress(10, ["a"], [1.0], quiet=True, stream=quiet).close()
    assert quiet.getvalue() == ""


def test_reference_is_fixed_once_and_hypervolume_never_falls() -> None:
    rng = np.random.default_rng(3)
    study = _Study()
    keeper = ReferenceKeeper(study, ["minimize", "minimize"])
    stream = io.StringIO()
    p = Progress(None, ["a", "b"], [1.0, 1.0], stream=stream, reference=keeper)
    assert keeper.hypervolume(np.array([[0.5, 0.5]])) is None  # nothing seen yet
    hv, fixed = [], None
    for _ in range(30):
        F = rng.random((3, 2)) * 10
        p.add(F, np.ones(3, dtype=bool), 3)
        if keeper.reference is not None:
            fixed = fixed or dict(study.user_attrs["dse.reference"])
            assert study.user_attrs["dse.reference"] == fixed  # never moves once stored
            hv.append(keeper.hypervolume(p._front))
    assert fixed is not None and "first 12 feasible results" in fixed["source"]
    assert np.all(np.diff(hv) >= 0)
    # A resumed run reads the stored reference back instead of fixing a new one.
    again = ReferenceKeeper(study, ["minimize", "minimize"], existing=rng.random((50, 2)))
    assert again.reference is not None and again.reference.to_attr() == fixed


def test_declared_bounds_fix_the_reference_at_creation() -> None:
    study = _Study()
    keeper = ReferenceKeeper(study, ["minimize", "maximize"], bounds=[(1.0, 5.0), (90.0, 50.0)])
    ref = keeper.reference
    assert ref is not None and ref.fixed and ref.source == "study file bounds"
    # Best ends normalise to 0, worst ends to 1 (accuracy maximised: -90 -> 0, -50 -> 1).
    assert np.allclose(ref.normalize([[1.0, -90.0], [5.0, -50.0]]), [[0, 0], [1, 1]])
    assert np.allclose(ref.point_in_units(["minimize", "maximize"]), [5.0, 50.0])
    assert keeper.hypervolume(np.array([[1.0, -90.0]])) == pytest.approx(1.0)


@pytest.mark.parametrize("m", [2, 3])
def test_pareto_ranks_peel_fronts_keeping_ties(m: int) -> None:
    rng = np.random.default_rng(m)
    F = rng.integers(0, 5, (300, m)).astype(float)
    ranks = pareto_ranks(F)
    rest = np.arange(len(F))
    r = 0
    while len(rest):
        layer = _brute(F[rest])
        assert (ranks[rest[layer]] == r).all()
        rest, r = rest[~layer], r + 1
