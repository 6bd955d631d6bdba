"""The SUSHI serving search space (search_spaces.sushi)."""

from __future__ import annotations

import numpy as np

from costmodels import get_model
from search_spaces import domain


def test_space_matches_model_inputs() -> None:
    space = domain("sushi")
    model = get_model("sushi")
    inputs = {p.name: p for p in model.inputs}
    for p in space.params:
        assert p.name in inputs, p.name
        vals = p.values()
        assert vals is not None  # finite: sweepable
        assert inputs[p.name].contains(vals).all(), p.name
    for name in (
        "pb_mb",
        "update_period_q",
        "history_window",
        "fill_priority",
        "pool_size",
        "pe_k",
        "pe_c",
        "pe_rs",
        "clock_mhz",
        "dram_bw_gbps",
    ):
        assert name in space.names


def test_the_models_violations_are_the_only_constraints() -> None:
    space = domain("sushi")
    model = get_model("sushi")
    assert space.constraints == ()  # on-chip fit and MAC budget are the model's outputs
    batch = space.sample(np.random.default_rng(0), 16)
    batch["n_queries"] = np.full(16, 1000)
    out = model.evaluate(model.batch(**{k: v for k, v in batch.items() if k in space.names}))
    assert np.isfinite(out["latency_ms"]).all()
    feasible = np.ones(16, dtype=bool)
    for name in model.constraint_names():
        feasible &= out[name] <= 0
    assert feasible.any() and (~feasible).any()
