"""Physics properties of the SUSHI accelerator tables, on sampled hardware points.

More persistent buffer, activation buffer, bandwidth, clock or utilization never makes a query
slower or adds off-chip bytes for the same SubNet and the same PB content; over a fixed served
SubNet sequence with a fixed PB-content schedule, a larger PB never adds off-chip traffic (on
the tables, and end to end through the model for a static PB, whose served sequence does not
depend on the PB size).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from costmodels import get_model
from costmodels.sushi import build_pool
from costmodels.sushi._accelerator import ServingTables, serving_tables
from costmodels.sushi._cache import FILL_PRIORITIES
from costmodels.sushi._pool import SubNetPool


N_BASE = 6  # sampled hardware points per property
RTOL = 1e-9


@pytest.fixture(scope="module", params=["ofa_mbv3_w1.0", "ofa_resnet50"])
def pool(request: pytest.FixtureRequest) -> SubNetPool:
    return build_pool(request.param, 8)


def _sample(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """``n`` random hardware points over the model's input ranges."""
    return {
        "pe_k": rng.choice([8, 16, 32], n),
        "pe_c": rng.choice([3, 9, 16], n),
        "pe_rs": rng.choice([1, 3, 9], n),
        "clock_mhz": rng.uniform(100, 300, n),
        "util_dense": rng.uniform(0.5, 1.0, n),
        "util_depthwise": rng.uniform(0.05, 0.5, n),
        "dram_bw_gbps": rng.uniform(1.0, 50.0, n),
        "layer_overhead_us": rng.uniform(0.0, 100.0, n),
        "overlap": rng.choice(["serial", "double_buffer"], n),
        "pb_mb": rng.uniform(0.0, 8.0, n),
        "act_buf_mb": rng.uniform(0.05, 2.0, n),
        "quant_bits": rng.choice([8, 16], n),
        "fill_priority": rng.choice(list(FILL_PRIORITIES), n),
        "e_dram_pj_per_byte": rng.uniform(50, 320, n),
        "e_sram_pj_per_byte": rng.uniform(0.5, 15, n),
        "e_mac_pj": rng.uniform(0.1, 1.0, n),
    }


def _pairs(seed: int, knob: str, grow: Any) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Sampled points and the same points with ``knob`` increased by ``grow(rng, values)``."""
    rng = np.random.default_rng(seed)
    base = _sample(rng, N_BASE)
    more = dict(base)
    more[knob] = grow(rng, base[knob])
    return base, more


def _tables(pool: SubNetPool, hw: dict[str, np.ndarray]) -> ServingTables:
    return serving_tables(pool, hw)


def _never_above(a: np.ndarray, b: np.ndarray) -> None:
    """Every entry of ``b`` (more resource) is at most the entry of ``a``."""
    assert np.all(b <= a * (1 + RTOL) + 1e-9), float(np.max(b - a))


@pytest.mark.parametrize("seed", [0, 1])
def test_bigger_pb_never_more_offchip_bytes_or_latency(pool: SubNetPool, seed: int) -> None:
    base, more = _pairs(seed, "pb_mb", lambda rng, v: v + rng.uniform(0.1, 8.0, v.size))
    small, big = _tables(pool, base), _tables(pool, more)
    _never_above(small.offchip_bytes, big.offchip_bytes)
    _never_above(small.lat_ms, big.lat_ms)
    assert np.all(big.hit_bytes >= small.hit_bytes - 1e-9)


def test_bigger_activation_buffer_never_more_offchip_bytes(pool: SubNetPool) -> None:
    base, more = _pairs(2, "act_buf_mb", lambda rng, v: v * rng.uniform(1.0, 20.0, v.size))
    small, big = _tables(pool, base), _tables(pool, more)
    _never_above(small.offchip_bytes, big.offchip_bytes)
    _never_above(small.lat_ms, big.lat_ms)


@pytest.mark.parametrize("knob", ["dram_bw_gbps", "clock_mhz", "util_dense", "util_depthwise"])
def test_more_bandwidth_or_compute_never_slower(pool: SubNetPool, knob: str) -> None:
    def grow(rng: np.random.Generator, v: np.ndarray) -> np.ndarray:
        cap = 1.0 if knob.startswith("util") else np.inf
        return np.minimum(v * rng.uniform(1.0, 3.0, v.size), cap)

    base, more = _pairs(3, knob, grow)
    slow, fast = _tables(pool, base), _tables(pool, more)
    _never_above(slow.lat_ms, fast.lat_ms)
    np.testing.assert_allclose(fast.offchip_bytes, slow.offchip_bytes, rtol=1e-12)


def _sequence_traffic(
    tables: ServingTables, served: np.ndarray, content: np.ndarray
) -> np.ndarray:
    """Off-chip bytes ``[P]`` of serving SubNets ``served[t]`` with the PB holding
    ``content[t]``: the misses of every query plus every refill (the first from an empty PB)."""
    pts = np.arange(tables.lat_ms.shape[0])[:, None]
    misses = tables.offchip_bytes[pts, served[None], content[None]].sum(axis=1)
    prev = np.concatenate([[tables.empty], content[:-1]])
    refills = tables.switch_bytes[pts, prev[None], content[None]].sum(axis=1)
    return misses + refills


@pytest.mark.parametrize("seed", [4, 5])
def test_bigger_pb_never_more_traffic_for_the_same_served_sequence(
    pool: SubNetPool, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    base, more = _pairs(seed, "pb_mb", lambda r, v: v + r.uniform(0.1, 8.0, v.size))
    small, big = _tables(pool, base), _tables(pool, more)
    served = rng.integers(0, len(pool), 400)
    # The PB holds the pool's common SubGraph for the whole sequence (one fill): every byte it
    # holds is part of every SubNet, so a larger PB only moves misses on chip.
    common = np.full(served.size, pool.common_index)
    _never_above(_sequence_traffic(small, served, common), _sequence_traffic(big, served, common))
    # With the PB holding the SubNet being served (switching whenever it changes, in blocks of
    # 25 queries), the misses never grow; a refill then loads only bytes the block uses.
    blocks = np.repeat(served[::25], 25)[: served.size]
    _never_above(_sequence_traffic(small, blocks, blocks), _sequence_traffic(big, blocks, blocks))


@pytest.mark.parametrize("supernet", ["ofa_mbv3_w1.0", "ofa_resnet50"])
def test_model_bigger_static_pb_never_more_offchip_traffic(supernet: str) -> None:
    """End to end through the model (its fast table path and the scheduler): a static PB holds
    the pool's common SubGraph, which every SubNet contains, so on accuracy-floor queries every
    SubNet's latency falls by the same amount, the served sequence is the same at every PB size,
    and the traffic per query can only fall."""
    model = get_model("sushi")
    pbs = [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0]
    out = model.evaluate(
        model.batch(
            supernet=supernet,
            pool_size=12,
            policy="static_pb",
            overlap="serial",
            latency_query_share=0.0,
            n_queries=1000,
            pb_mb=pbs,
            onchip_mem_mb=64.0,
        )
    )
    assert np.all(np.diff(out["offchip_mb_per_query"]) <= 1e-9), out["offchip_mb_per_query"]
    np.testing.assert_allclose(out["served_acc_pct"], out["served_acc_pct"][0], rtol=1e-12)
