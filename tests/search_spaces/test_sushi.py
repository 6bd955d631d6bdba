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


def test_constraints_agree_with_model_violations() -> None:
    space = domain("sushi")
    model = get_model("sushi")
    batch = space.sample(np.random.default_rng(0), 16)
    batch["n_queries"] = np.full(16, 1000)
    viol = space.violations(batch)
    out = model.evaluate(model.batch(**{k: v for k, v in batch.items() if k in space.names}))
    assert np.allclose(viol["onchip_mem"], out["onchip_mem_violation_mb"])
    assert np.allclose(viol["mac_budget"], out["mac_budget_violation"])
    assert np.isfinite(out["latency_ms"]).all()
    feasible = space.feasible(batch)
    assert feasible.any() and (~feasible).any()
