"""Physics properties of the sparse GEMM engine model: bytes and bandwidth.

On sampled engine points: a sparser weight pattern (smaller N at the same M, or a lower
unstructured density) never stores more weight bytes or moves more DRAM bytes, and more DRAM
or L2 bandwidth never makes a layer set slower. (Latency against sparsity is P1's test.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from costmodels import get_model
from costmodels._protocol import CostModel


N_POINTS = 24
RTOL = 1e-9


@pytest.fixture(scope="module")
def model() -> CostModel:
    return get_model("sparse_gemm", workload="bert_base")


def _engines(rng: np.random.Generator, n: int) -> dict[str, Any]:
    """``n`` random engine points (automatic register blocking)."""
    return {
        "engine": rng.choice(["vegeta", "rasa_sm"], n),
        "alpha": rng.choice([1, 2, 4, 8, 16], n),
        "beta": rng.choice([1, 2, 4], n),
        "sparse_capable": rng.choice([True, False], n),
        "tile_regs": rng.choice([8, 16, 32], n),
        "load_ports": rng.integers(1, 5, n),
        "load_port_bytes": rng.choice([32, 64, 128], n),
        "clock_ghz": rng.uniform(1.0, 4.0, n),
        "loop_order": rng.choice(["nm", "mn"], n),
        "l2_bytes_per_cycle": rng.choice([32, 64, 128], n),
        "l2_kib": rng.integers(128, 4097, n),
        "dram_gbps": rng.uniform(10.0, 400.0, n),
    }


def _eval(model: CostModel, cols: dict[str, Any]) -> dict[str, np.ndarray]:
    return model.evaluate(model.batch(**cols))


def _never_above(a: np.ndarray, b: np.ndarray, what: str) -> None:
    ok = b <= a * (1 + RTOL) + 1e-12
    assert ok.all(), (what, np.flatnonzero(~ok)[:5], float(np.max(b - a)))


@pytest.mark.parametrize("m", [4, 8, 16])
def test_sparser_nm_never_more_weight_bytes(model: CostModel, m: int) -> None:
    rng = np.random.default_rng(m)
    base = _engines(rng, N_POINTS)
    prev: dict[str, np.ndarray] | None = None
    for n in range(m, 0, -1):  # dense (N = M) first, then sparser
        out = _eval(model, {**base, "sparsity": "nm", "nm_n": n, "nm_m": m})
        if prev is not None:
            # (L2 bytes are not asserted: the register blocking that minimizes latency may
            # re-stream more through L2 at a sparser pattern.)
            for key in ("weights_mb", "dram_mb"):
                _never_above(prev[key], out[key], f"{key} {n}:{m}")
        prev = out


def test_lower_density_never_more_weight_bytes(model: CostModel) -> None:
    rng = np.random.default_rng(7)
    base = _engines(rng, N_POINTS)
    for kind in ("rowwise", "per_layer"):
        prev: dict[str, np.ndarray] | None = None
        for density in (1.0, 0.5, 0.25, 0.1, 0.05, 0.01):
            out = _eval(model, {**base, "sparsity": kind, "density": density})
            if prev is not None:
                _never_above(prev["weights_mb"], out["weights_mb"], f"{kind} {density}")
            prev = out


@pytest.mark.parametrize("knob", ["dram_gbps", "l2_bytes_per_cycle"])
def test_more_bandwidth_never_slower(model: CostModel, knob: str) -> None:
    rng = np.random.default_rng(11)
    base = _engines(rng, N_POINTS)
    base |= {"sparsity": "nm", "nm_n": rng.choice([1, 2, 4], N_POINTS), "nm_m": 4}
    more = dict(base)
    if knob == "dram_gbps":
        more[knob] = np.minimum(base[knob] * rng.uniform(1.0, 4.0, N_POINTS), 400.0)
    else:
        more[knob] = np.minimum(base[knob] * 2, 128)
    slow, fast = _eval(model, base), _eval(model, more)
    _never_above(slow["latency_ms"], fast["latency_ms"], knob)
    # bandwidth moves no bytes: the traffic is the same
    np.testing.assert_allclose(fast["dram_mb"], slow["dram_mb"], rtol=1e-9)
