from __future__ import annotations

import numpy as np
import pytest

from search_spaces import (
    Categorical,
    Condition,
    Constraint,
    Derived,
    Fixed,
    Float,
    Int,
    ParamError,
    Space,
    SpaceError,
    domain,
    union,
)


def _space() -> Space:
    return Space(
        params=(
            Int("n", 1, 4),
            Categorical("m", (4, 8, 16)),
            Categorical("recipe", ("srste", "sdgf")),
            Int("k", 1, 3, condition=Condition("recipe", ("sdgf",)), default_value=2),
            Fixed("clock", 2.0),
        ),
        derived=(Derived("density", lambda b: b["n"] / b["m"], ("n", "m")),),
        constraints=(Constraint("n_le_m", lambda b: b["n"] - b["m"], ("n", "m")),),
        name="toy",
    )


def test_enumeration_covers_the_space_once_in_chunks() -> None:
    s = _space()
    assert s.size == 4 * 3 * 2 * 3 * 1
    chunks = list(s.enumerate(chunk_size=7))
    rows = []
    for c in chunks:
        rows += list(zip(c["n"].tolist(), c["m"].tolist(), c["recipe"].tolist(),
                         c["k"].tolist()))
    # k only matters for sdgf: every distinct design exactly once, none repeated
    assert len(rows) == len(set(rows)) == 4 * 3 * (1 + 3)
    assert s.size == 4 * 3 * 2 * 3  # the index space still counts every combination
    assert np.allclose(chunks[0]["density"], chunks[0]["n"] / chunks[0]["m"])


def test_conditional_param_takes_default_when_inactive() -> None:
    s = _space()
    b = s.complete({"recipe": np.array(["srste", "sdgf"]), "k": np.array([3, 3])})
    assert b["k"].tolist() == [2, 3]
    assert s.active_mask(b, "k").tolist() == [False, True]


def test_sampling_and_violations() -> None:
    s = _space()
    b = s.sample(np.random.default_rng(0), 500)
    assert set(b) >= {"n", "m", "recipe", "k", "clock", "density"}
    v = s.violations(b)["n_le_m"]
    assert (v <= 0).all()  # n <= 4 <= m always
    assert s.feasible(b).all()


def test_encode_decode_roundtrip_on_searched_params() -> None:
    s = _space()
    b = s.sample(np.random.default_rng(3), 100)
    u = s.encode(b)
    assert u.shape == (100, 4)
    back = s.decode(u)
    for name in ("n", "m", "recipe"):
        assert (back[name] == b[name]).all()


def test_prefix_and_union_with_shared_params() -> None:
    a = Space((Int("n", 1, 4), Float("alpha", 0.0, 1.0)),
              constraints=(Constraint("c", lambda b: b["alpha"] - 0.5, ("alpha",)),))
    b = Space((Int("n", 1, 4), Int("tp", 1, 8)))
    joint = union(a.prefixed("hw", frozenset({"n"})), b.prefixed("cl", frozenset({"n"})))
    assert joint.names == ("n", "hw.alpha", "cl.tp")
    batch = joint.sample(np.random.default_rng(0), 50)
    v = joint.violations(batch)["hw.c"]
    assert np.allclose(v, batch["hw.alpha"] - 0.5)
    with pytest.raises(SpaceError, match="declared differently"):
        union(Space((Int("n", 1, 4),)), Space((Int("n", 1, 8),)))


def test_narrowed_rejects_unknown_names_and_check_names_values() -> None:
    s = _space()
    with pytest.raises(ParamError, match="unknown parameter 'nn'"):
        s.narrowed({"nn": 3})
    assert isinstance(s.narrowed({"n": 2})["n"], Fixed)
    with pytest.raises(ParamError, match="n=9 is out of range"):
        s.check({"n": np.array([1, 9])})
    with pytest.raises(ParamError, match="unknown parameter 'zz'"):
        s.check({"zz": np.array([1])})


def test_continuous_space_cannot_be_enumerated() -> None:
    s = Space((Float("x", 0.0, 1.0),))
    with pytest.raises(SpaceError, match="continuous"):
        next(s.enumerate())


def test_domain_lookup() -> None:
    assert "x" in domain("demo")
    with pytest.raises(SpaceError, match="unknown space 'nope'"):
        domain("nope")
