"""The fast SUSHI path equals the reference one; the engine-link inputs (costmodels.sushi)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from costmodels import ModelError
from costmodels.sushi import SushiModel, build_pool
from costmodels.sushi._accelerator import HW_FIELDS, ServingTables, compute_seconds, serving_tables
from costmodels.sushi._fast_tables import clear_cache_memo, fast_serving_tables
from costmodels.sushi._supernet import DEPTHWISE
from search_spaces import domain


def _sampled_batch(model: SushiModel, n: int, seed: int, **fixed: Any) -> dict[str, np.ndarray]:
    """``n`` points of the ``sushi`` space plus off-space settings (16 bit, double buffer)."""
    space = domain("sushi")
    rng = np.random.default_rng(seed)
    s = space.sample(rng, n)
    names = [k for k in space.names if k in {p.name for p in model.inputs}]
    cols: dict[str, Any] = {k: s[k] for k in names}
    cols["overlap"] = rng.choice(["serial", "double_buffer"], n, p=[0.8, 0.2])
    cols["quant_bits"] = rng.choice([8, 16], n)
    cols.update(fixed)
    return model.batch(**cols)


def test_fast_tables_equal_reference_bit_for_bit() -> None:
    model = SushiModel()
    b = _sampled_batch(model, 120, seed=3)
    pool = build_pool("ofa_mbv3_w1.0", 12)
    hw = {k: b[k] for k in HW_FIELDS}
    switching = np.arange(120) % 3 != 0
    ref = serving_tables(pool, hw, True, switching)
    clear_cache_memo()
    for _ in range(2):  # cold, then from the memo
        new = fast_serving_tables(pool, hw, True, switching)
        for name in ServingTables.__dataclass_fields__:
            assert np.array_equal(getattr(new, name), getattr(ref, name)), name


def test_fast_model_equals_reference_on_sampled_points() -> None:
    fast, ref = SushiModel(), SushiModel(impl="reference")
    b = _sampled_batch(fast, 160, seed=11, n_queries=np.full(160, 1000))
    got, want = fast.evaluate(b), ref.evaluate(b)
    assert set(got) == set(want)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-12, atol=0, err_msg=name)
    assert np.array_equal(got["switch_count"], want["switch_count"])
    few = {k: v[:6] for k, v in b.items()}  # a small batch: pools, trace, kernel as above
    got, want = fast.evaluate(few), ref.evaluate(few)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-12, atol=0, err_msg=name)


def test_reference_impl_rejects_engine_links_and_bad_impl() -> None:
    ref = SushiModel(impl="reference")
    with pytest.raises(ModelError, match="weight_bytes_scale must be 1.0"):
        ref.evaluate(ref.batch(1, weight_bytes_scale=0.5, n_queries=200))
    with pytest.raises(ModelError, match="impl='numba'"):
        SushiModel(impl="numba")


def _hw(n: int, **kw: Any) -> dict[str, np.ndarray]:
    m = SushiModel()
    b = m.batch(n, **kw)
    return {k: b[k] for k in HW_FIELDS}


def test_weight_bytes_scale_shrinks_gemm_weights_and_stretches_the_pb() -> None:
    pool = build_pool("ofa_resnet50", 8)  # no depthwise slots: every slot is GEMM-shaped
    dense = fast_serving_tables(pool, _hw(1, pb_mb=8.0, act_buf_mb=16.0))
    half = fast_serving_tables(
        pool, _hw(1, pb_mb=4.0, act_buf_mb=16.0), weight_bytes_scale=np.asarray([0.5])
    )
    np.testing.assert_allclose(half.weight_bytes, 0.5 * dense.weight_bytes, rtol=1e-12)
    # half the bytes per parameter in half the PB: the same parameters held, half the bytes
    np.testing.assert_allclose(half.hit_bytes, 0.5 * dense.hit_bytes, rtol=1e-12)
    np.testing.assert_allclose(half.offchip_bytes, 0.5 * dense.offchip_bytes, rtol=1e-12)

    mbv3 = build_pool("ofa_mbv3_w1.0", 8)
    depthwise = mbv3.layers.kind == DEPTHWISE
    params = mbv3.layers.params.astype(np.float64)
    t = fast_serving_tables(mbv3, _hw(1, pb_mb=0.0), weight_bytes_scale=np.asarray([0.25]))
    want = 0.25 * params[:, ~depthwise].sum(axis=1) + params[:, depthwise].sum(axis=1)
    np.testing.assert_allclose(t.weight_bytes[0], want, rtol=1e-12)  # int8: 1 byte a weight


def test_gemm_latency_scale_scales_gemm_compute_only() -> None:
    pool = build_pool("ofa_mbv3_w1.0", 8)
    kw = dict(pb_mb=0.0, layer_overhead_us=0.0, act_buf_mb=16.0)
    hw = _hw(1, **kw)
    base = fast_serving_tables(pool, hw)
    fast = fast_serving_tables(pool, hw, gemm_latency_scale=np.asarray([0.1]))
    tc = compute_seconds(pool.layers, hw) * 1e3  # [1, S, L]
    depthwise = pool.layers.kind == DEPTHWISE
    saved = 0.9 * tc[0][:, ~depthwise].sum(axis=1)
    empty = base.lat_ms.shape[2] - 1
    np.testing.assert_allclose(
        base.lat_ms[0, :, empty] - fast.lat_ms[0, :, empty], saved, rtol=1e-9
    )
    np.testing.assert_allclose(fast.weight_bytes, base.weight_bytes)


def test_engine_links_default_to_the_models_own_accelerator() -> None:
    m = SushiModel()
    plain = m.evaluate(m.batch(2, n_queries=500, pb_mb=[1.0, 4.5]))
    linked = m.evaluate(
        m.batch(2, n_queries=500, pb_mb=[1.0, 4.5], weight_bytes_scale=1.0, gemm_latency_scale=1.0)
    )
    for name in plain:
        assert np.array_equal(plain[name], linked[name], equal_nan=True), name
    sparse = m.evaluate(m.batch(1, n_queries=500, weight_bytes_scale=0.6))
    assert sparse["offchip_mb_per_query"][0] < plain["offchip_mb_per_query"][1]


def test_points_that_serve_alike_are_served_once_with_their_own_violations() -> None:
    # a grid: no_pb ignores the PB settings, static_pb the scheduler period; the violations
    # still follow every point's own buffers
    pols = ["no_pb", "static_pb", "sushi"]
    grid = [(p, pb, qp) for p in pols for pb in (1.0, 3.0) for qp in (10, 50)]
    cols = dict(
        policy=[g[0] for g in grid],
        pb_mb=[g[1] for g in grid],
        update_period_q=[g[2] for g in grid],
        onchip_mem_mb=[2.0 + i for i in range(len(grid))],
        n_queries=[600] * len(grid),
    )
    fast, ref = SushiModel(), SushiModel(impl="reference")
    got, want = fast.evaluate(fast.batch(**cols)), ref.evaluate(ref.batch(**cols))
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-12, err_msg=name)
    assert len(set(got["latency_ms"][:4].tolist())) == 1  # the four no_pb points serve alike
