from __future__ import annotations

import numpy as np
import pytest

from search_spaces import Categorical, Condition, Fixed, Float, Int, ParamError, apply_override


def test_int_values_sample_and_roundtrip() -> None:
    p = Int("tp", 1, 8, step=1)
    assert p.values().tolist() == list(range(1, 9))
    rng = np.random.default_rng(0)
    s = p.sample(rng, 1000)
    assert s.min() >= 1 and s.max() <= 8 and set(s.tolist()) == set(range(1, 9))
    assert (p.decode(p.encode(p.values())) == p.values()).all()


def test_int_log_and_step() -> None:
    p = Int("m", 2, 128, log=True)
    s = p.sample(np.random.default_rng(1), 10_000)
    assert s.min() >= 2 and s.max() <= 128
    # log sampling puts about as much mass in [2, 16] as in [16, 128]
    assert 0.35 < (s <= 16).mean() < 0.65
    q = Int("k", 0, 10, step=5)
    assert q.values().tolist() == [0, 5, 10]
    assert q.contains(np.array([0, 5, 7, 10])).tolist() == [True, True, False, True]


def test_float_grid_makes_it_finite() -> None:
    p = Float("x", 0.0, 1.0, steps=5)
    assert p.size == 5
    assert np.allclose(p.values(), [0, 0.25, 0.5, 0.75, 1.0])
    assert set(p.decode(np.linspace(0, 1, 50)).tolist()) <= set(p.values().tolist())
    assert Float("y", 0.0, 1.0).size is None


def test_categorical_encode_decode_and_index() -> None:
    p = Categorical("recipe", ("srste", "mdgf", "sdgf"))
    vals = np.array(["sdgf", "srste", "mdgf"])
    assert (p.decode(p.encode(vals)) == vals).all()
    assert p.index_of(np.array(["mdgf", "nope"])).tolist() == [1, -1]


@pytest.mark.parametrize(
    "param, raw, expected",
    [
        (Int("n", 1, 4), "3", 3),
        (Float("f", 0.0, 2.0), "1.5", 1.5),
        (Categorical("c", (1, 2, 4)), "4", 4),
        (Categorical("b", (True, False)), "false", False),
        (Categorical("s", ("a", "b")), "b", "b"),
        (Fixed("z", 7), "7", 7),
    ],
)
def test_coerce_accepts_cli_strings(param, raw, expected) -> None:  # type: ignore[no-untyped-def]
    assert param.coerce(raw) == expected


@pytest.mark.parametrize(
    "param, raw, fragment",
    [
        (Int("n", 1, 4), "9", "n='9' is out of range: expected an integer in [1, 4]"),
        (Int("n", 1, 4), "2.5", "expected an integer in [1, 4]"),
        (Float("f", 0.0, 2.0), "abc", "expected a number in [0, 2]"),
        (Categorical("c", ("a", "b")), "z", "expected one of 'a', 'b'"),
    ],
)
def test_coerce_rejects_with_one_line_naming_the_param(param, raw, fragment) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ParamError) as exc:
        param.coerce(raw)
    assert fragment in str(exc.value)
    assert "\n" not in str(exc.value)


def test_overrides_pin_restrict_and_narrow() -> None:
    p = Int("tp", 1, 16)
    assert isinstance(apply_override(p, 4), Fixed)
    cat = apply_override(p, [1, 2, 4])
    assert isinstance(cat, Categorical) and cat.choices == (1, 2, 4)
    narrowed = apply_override(p, {"low": 2, "high": 8})
    assert narrowed.values().tolist() == list(range(2, 9))
    with pytest.raises(ParamError, match="leaves the declared range"):
        apply_override(p, {"high": 64})
    with pytest.raises(ParamError, match="unknown override key"):
        apply_override(p, {"hgh": 4})
    with pytest.raises(ParamError, match="out of range"):
        apply_override(p, 99)


def test_condition_mask() -> None:
    c = Condition("recipe", ("sdgf",))
    assert c.active(np.array(["sdgf", "mdgf"])).tolist() == [True, False]


def test_bad_declarations_raise() -> None:
    with pytest.raises(ParamError):
        Int("x", 5, 1)
    with pytest.raises(ParamError):
        Float("x", 0.0, 1.0, log=True)
    with pytest.raises(ParamError):
        Categorical("x", ())
    with pytest.raises(ParamError):
        Categorical("x", ("a", "a"))
