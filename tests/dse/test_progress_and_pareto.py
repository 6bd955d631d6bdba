from __future__ import annotations

import io

import numpy as np
import pytest

from dse import ParetoFront, hypervolume, nondominated_mask, normalized_hypervolume
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
    assert normalized_hypervolume(zdt1) == pytest.approx(1.1**2 - 1 / 3, abs=2e-3)


def test_progress_prints_only_on_a_terminal() -> None:
    tty, pipe = _Tty(), io.StringIO()
    for stream in (tty, pipe):
        p = Progress(10, ["a", "b"], [1.0, -1.0], stream=stream, interval=0.0)
        p.add(np.array([[1.0, -2.0], [0.5, -1.0]]), np.array([True, True]), 2)
        p.close()
    assert pipe.getvalue() == ""
    out = tty.getvalue()
    assert "2/10 trials" in out and "a=0.5" in out and "b=2" in out and "HV(norm, ref 1.1)" in out
    quiet = _Tty()
    Progress(10, ["a"], [1.0], quiet=True, stream=quiet).close()
    assert quiet.getvalue() == ""
