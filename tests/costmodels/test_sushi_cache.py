"""SubGraph Stationary fill, hits and switch cost; accelerator tables (costmodels.sushi)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from costmodels.sushi import build_pool, get_supernet, shared_params
from costmodels.sushi._accelerator import compute_seconds, serving_tables
from costmodels.sushi._cache import FILL_PRIORITIES, fill, fill_order, hit_sum, switch_params


def _hw(n: int = 1, **kw: Any) -> dict[str, np.ndarray]:
    base: dict[str, Any] = dict(
        pe_k=16,
        pe_c=9,
        pe_rs=9,
        clock_mhz=200.0,
        util_dense=0.88,
        util_depthwise=0.88,
        dram_bw_gbps=3.0,
        layer_overhead_us=10.0,
        overlap="serial",
        pb_mb=4.5,
        act_buf_mb=1.0,
        quant_bits=8,
        fill_priority="bytes_per_mac",
        e_dram_pj_per_byte=220.0,
        e_sram_pj_per_byte=12.5,
        e_mac_pj=0.2,
    )
    base.update(kw)
    return {k: np.asarray(v) if np.ndim(v) == 1 else np.full(n, v) for k, v in base.items()}


@pytest.fixture(scope="module")
def pool():  # type: ignore[no-untyped-def]
    return build_pool("ofa_mbv3_w1.0", 12)


@pytest.mark.parametrize("priority", FILL_PRIORITIES)
def test_fill_respects_capacity_and_hits_are_exact(pool, priority: str) -> None:  # type: ignore[no-untyped-def]
    cand = pool.subgraph_layers
    params = cand.params.astype(float)
    cap = np.asarray([0.0, 1e6, 3e6, 1e8])
    f = fill(params, fill_order(cand, priority), cap)
    held = f.held()
    assert np.allclose(held.sum(axis=2), np.minimum(cap[:, None], params.sum(axis=1)[None]))
    assert np.allclose(f.held_total(), held.sum(axis=2))
    assert (held <= params[None] + 1e-9).all()
    shared = shared_params(pool.layers, cand).astype(float)
    explicit = np.minimum(shared[None], held[:, None]).sum(axis=3)
    assert np.allclose(hit_sum(shared, f), explicit)
    # an unbounded PB holding a SubNet serves that SubNet entirely from chip
    s = np.arange(len(pool))
    assert np.allclose(hit_sum(shared, f)[3, s, s], pool.layers.params.sum(axis=1))


def test_switch_cost(pool) -> None:  # type: ignore[no-untyped-def]
    cand = pool.subgraph_layers
    params = cand.params.astype(float)
    f = fill(params, fill_order(cand, "network_order"), np.asarray([2e6, 1e8]))
    held = f.held()
    sw = switch_params(held, shared_params(cand, cand).astype(float))
    g = len(params)
    assert np.allclose(sw[:, np.arange(g), np.arange(g)], 0.0)  # staying costs nothing
    assert (sw >= -1e-6).all()
    assert (sw <= held.sum(axis=2)[:, None, :] + 1e-6).all()
    # to the common SubGraph (contained in all) from a full SubNet: nothing new to load
    assert np.allclose(sw[1, :, pool.common_index], 0.0)


def test_depthwise_uses_one_ninth_of_the_array() -> None:
    sn = get_supernet("ofa_mbv3_w1.0")
    t = sn.layers(sn.extreme(True, 224))
    secs = compute_seconds(t, _hw(), stride2_full_res=False)[0, 0]
    dw = [i for i, n in enumerate(t.names) if n == "s4.b1.dw"][0]
    eff = t.macs[0, dw] / (secs[dw] * 200e6 * 0.88 * 1296)
    # 7x7 taps on 9 lanes (6 cycles for 49 taps) and C = 1 of 9: about 0.1 of peak (notes: 0.11)
    assert eff == pytest.approx(49 / (6 * 9 * 9), rel=0.02)


def test_tables_latency_falls_with_pb_and_double_buffer_hides_fetch(pool) -> None:  # type: ignore[no-untyped-def]
    t = serving_tables(pool, _hw(4, pb_mb=np.asarray([0.0, 1.0, 3.0, 6.0])))
    best = t.lat_ms.min(axis=2)  # best PB content for each SubNet
    assert (np.diff(best, axis=0) <= 1e-12).all()
    assert np.allclose(t.lat_ms[0], t.lat_ms[0, :, -1:])  # no PB: every content is the same
    assert np.allclose(t.lat_ms[:, :, -1], t.lat_ms[0, :, -1])  # the empty PB never helps
    off_saved = t.offchip_bytes[:, :, -1] - t.offchip_bytes.min(axis=2)
    assert np.allclose(off_saved, t.hit_bytes.max(axis=2))
    db = serving_tables(
        pool, _hw(4, pb_mb=np.asarray([0.0, 1.0, 3.0, 6.0]), overlap="double_buffer")
    )
    assert (db.lat_ms <= t.lat_ms + 1e-9).all()
    assert (t.fetch_share > 0).all() and (t.fetch_share < 1).all()


def test_sixteen_bit_doubles_bytes(pool) -> None:  # type: ignore[no-untyped-def]
    t8 = serving_tables(pool, _hw(pb_mb=0.0))
    t16 = serving_tables(pool, _hw(pb_mb=0.0, quant_bits=16))
    assert np.allclose(t16.weight_bytes, 2 * t8.weight_bytes)
