from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest

from costmodels import (
    CostModel,
    ModelError,
    Output,
    Pipeline,
    Stage,
    available_models,
    get_model,
    register,
)
from costmodels.demo import DemoModel, front_f2
from search_spaces import Float, Int, ParamError


class Counting(CostModel):
    """Doubles its input and counts how many points it evaluated."""

    name = "counting_test"
    version = "1"
    inputs = (Int("a", 0, 100, default_value=1),)
    outputs = (Output("b", "", "minimize"),)
    expensive = True

    def __init__(self) -> None:
        self.calls = 0

    def evaluate(self, batch: Mapping[str, np.ndarray], context=None):  # type: ignore[no-untyped-def]
        self.calls += len(batch["a"])
        return {"b": 2.0 * np.asarray(batch["a"], dtype=float)}


class Consumer(CostModel):
    name = "consumer_test"
    inputs = (Float("b", 0.0, 1000.0, default_value=0.0), Int("c", 0, 10, default_value=0))
    outputs = (Output("d", "s", "minimize"),)

    def evaluate(self, batch, context=None):  # type: ignore[no-untyped-def]
        return {"d": batch["b"] + batch["c"]}


def test_demo_model_is_on_its_known_front() -> None:
    m = get_model("demo")
    x = np.linspace(0, 1, 11)
    out = m.evaluate(m.batch(x=x, y=np.zeros(11), level=np.zeros(11, dtype=int)))
    assert np.allclose(out["f2"], front_f2(x))
    assert (out["budget"] <= 0).all()


def test_batch_fills_defaults_and_rejects_bad_input() -> None:
    m = DemoModel()
    b = m.batch(x=[0.1, 0.2])
    assert b["y"].tolist() == [0.0, 0.0] and b["level"].tolist() == [0, 0]
    with pytest.raises(ParamError, match="no parameter 'z'"):
        m.batch(z=[1])
    with pytest.raises(ParamError, match=r"x=2.0 is out of range: expected a number in \[0, 1\]"):
        m.batch(x=[2.0])


def test_registry_lists_builtin_and_registered_models() -> None:
    assert "demo" in available_models()
    register(Counting)
    assert "counting_test" in available_models()
    with pytest.raises(ModelError, match="unknown model 'nope'"):
        get_model("nope")
    with pytest.raises(ModelError, match="bad options"):
        get_model("demo", nonsense=1)


def test_pipeline_wires_outputs_to_inputs_and_memoizes() -> None:
    counting = Counting()
    pipe = Pipeline([
        Stage(Consumer(), "hw", bind={"b": "tr.b"}),   # declared first, runs second
        Stage(counting, "tr"),
    ])
    assert [s.namespace for s in pipe.stages] == ["tr", "hw"]
    batch = {"tr.a": np.array([1, 2, 1, 2, 3]), "hw.c": np.array([0, 1, 2, 3, 4])}
    out = pipe.evaluate(batch)
    assert out["tr.b"].tolist() == [2, 4, 2, 4, 6]
    assert out["hw.d"].tolist() == [2, 5, 4, 7, 10]
    assert counting.calls == 3  # one per distinct recipe
    pipe.evaluate({"tr.a": np.array([3, 1]), "hw.c": np.array([0, 0])})
    assert counting.calls == 3  # all cached


def test_disk_cache_survives_a_new_pipeline(tmp_path: Path) -> None:
    first = Counting()
    Pipeline([Stage(first, "tr")], cache_dir=tmp_path).evaluate({"tr.a": np.array([5, 6])})
    second = Counting()
    out = Pipeline([Stage(second, "tr")], cache_dir=tmp_path).evaluate(
        {"tr.a": np.array([6, 5, 7])})
    assert out["tr.b"].tolist() == [12, 10, 14]
    assert second.calls == 1


def test_pipeline_errors_name_the_problem() -> None:
    with pytest.raises(ModelError, match="no parameter 'zz'"):
        Pipeline([Stage(Consumer(), "hw", bind={"zz": "x"})])
    with pytest.raises(ModelError, match="cycle"):
        Pipeline([Stage(Consumer(), "a", bind={"b": "b.d"}),
                  Stage(Consumer(), "b", bind={"b": "a.d"})])


def test_distinct_rows_matches_python_tuples() -> None:
    from costmodels._pipeline import _distinct_rows

    rng = np.random.default_rng(0)
    cols = [rng.integers(0, 3, 5000), np.array(["a", "b"])[rng.integers(0, 2, 5000)],
            np.full(5000, 7.5), rng.random(5000).round(1)]
    first, inverse = _distinct_rows(cols)
    rows = list(zip(*(c.tolist() for c in cols)))
    assert len(first) == len(set(rows))
    assert all(rows[first[inverse[i]]] == rows[i] for i in range(5000))


def test_memoized_stage_on_a_large_batch_evaluates_distinct_rows_once() -> None:
    counting = Counting()
    pipe = Pipeline([Stage(counting, "tr")])
    a = np.repeat(np.array([4, 9]), 200_000)
    out = pipe.evaluate({"tr.a": a})
    assert counting.calls == 2 and (out["tr.b"] == 2.0 * a).all()


class Explaining(CostModel):
    """Returns NaN for odd inputs and says why."""

    name = "explaining_test"
    inputs = (Int("a", 0, 100, default_value=0),)
    outputs = (Output("b", "", "minimize"),)
    expensive = True

    def evaluate(self, batch, context=None):  # type: ignore[no-untyped-def]
        a = np.asarray(batch["a"])
        self.last_failures = {i: f"odd input {v}" for i, v in enumerate(a.tolist()) if v % 2}
        return {"b": np.where(a % 2 == 1, np.nan, a / 2.0)}


def test_model_failure_reasons_reach_the_rows_they_explain() -> None:
    pipe = Pipeline([Stage(Explaining(), "ex")])
    out = pipe.evaluate({"ex.a": np.array([2, 3, 3, 4, 5])})
    assert np.isnan(out["ex.b"]).tolist() == [False, True, True, False, True]
    assert pipe.last_reasons == {1: "ex: odd input 3", 2: "ex: odd input 3", 4: "ex: odd input 5"}
    pipe.evaluate({"ex.a": np.array([5, 2])})  # memoized: the reason is remembered too
    assert pipe.last_reasons == {0: "ex: odd input 5"}
    skipped = pipe.evaluate({"ex.a": np.array([7, 9])}, skip_expensive=np.array([True, False]))
    assert np.isnan(skipped["ex.b"]).all() and pipe.last_reasons == {1: "ex: odd input 9"}
