"""SushiModel: outputs, vectorization, failure behaviour, anchors and sensitivities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from costmodels import ModelError, get_model
from costmodels.sushi import SushiModel, Trace, save_trace
from costmodels.sushi._anchors import HEADLINE_REGIME, PUBLISHED, headline_metrics
from search_spaces import ParamError


@pytest.fixture(scope="module")
def model() -> SushiModel:
    m = get_model("sushi")
    assert isinstance(m, SushiModel)
    return m


def test_every_output_for_a_batch(model: SushiModel) -> None:
    b = model.batch(pb_mb=[0.0, 2.0, 4.5], n_queries=2000)
    out = model.evaluate(b)
    assert set(out) == {o.name for o in model.outputs}
    for name, v in out.items():
        assert v.shape == (3,), name
        assert np.isfinite(v).all(), name
    assert out["latency_saving_pct"][0] == pytest.approx(0.0, abs=1e-9)
    assert np.all(np.diff(out["offchip_energy_mj"]) < 0)
    assert out["p99_latency_ms"][1] >= out["latency_ms"][1]
    assert out["response_ms"][1] >= out["latency_ms"][1]


def test_vectorized_equals_pointwise(model: SushiModel) -> None:
    cols = dict(
        pb_mb=[1.0, 4.5, 3.0, 0.5],
        dram_bw_gbps=[2.0, 3.0, 8.0, 3.0],
        policy=["sushi", "static_pb", "cache_oblivious", "no_pb"],
        fill_priority=["reverse", "bytes_per_mac", "network_order", "reverse"],
        overlap=["serial", "double_buffer", "serial", "serial"],
        pool_size=[24, 24, 12, 24],
        n_queries=[1000, 1000, 1000, 1000],
    )
    together = model.evaluate(model.batch(**cols))
    for i in range(4):
        one = model.evaluate(model.batch(**{k: [v[i]] for k, v in cols.items()}))
        for name in together:
            assert together[name][i] == pytest.approx(one[name][0], rel=1e-9), name


def test_no_pb_policy_saves_nothing(model: SushiModel) -> None:
    out = model.evaluate(model.batch(policy=["no_pb"], n_queries=1000))
    for k in (
        "latency_saving_pct",
        "offchip_energy_saving_pct",
        "served_acc_gain_pp",
        "hit_ratio_pct",
        "switch_count",
    ):
        assert out[k][0] == 0.0


def test_policies_rank_as_expected(model: SushiModel) -> None:
    pols = ["sushi", "static_pb", "cache_oblivious"]
    acc_q = model.evaluate(model.batch(policy=pols, latency_query_share=0.0))
    lat_q = model.evaluate(model.batch(policy=pols, latency_query_share=1.0))
    # a PB that follows the stream beats a fixed one; ignoring the cache forfeits accuracy
    assert acc_q["latency_saving_pct"][0] > acc_q["latency_saving_pct"][1]
    assert lat_q["served_acc_gain_pp"][0] > lat_q["served_acc_gain_pp"][1] > 0
    assert lat_q["served_acc_gain_pp"][2] == pytest.approx(0.0, abs=1e-9)


def test_buffer_beyond_onchip_memory_is_a_violation(model: SushiModel) -> None:
    out = model.evaluate(model.batch(pb_mb=[4.5, 8.0], onchip_mem_mb=4.75, n_queries=500))
    assert out["onchip_mem_violation_mb"][0] == pytest.approx(1.0)
    assert out["onchip_mem_violation_mb"][1] == pytest.approx(4.5)
    assert np.isfinite(out["latency_ms"]).all()  # still evaluated: a value, not an exception
    out = model.evaluate(model.batch(pe_k=[16, 32], n_queries=500))
    assert out["mac_budget_violation"].tolist() == [0.0, 1296.0]


def test_unmeetable_targets_are_counted_misses(tmp_path: Path) -> None:
    n = 200
    trace = Trace(
        t_arrival_s=np.arange(n) * 0.01,
        is_latency=np.arange(n) % 2 == 0,
        target_q=np.where(np.arange(n) % 2 == 0, -0.5, 1.5),  # faster than any, above the best
    )
    path = save_trace(trace, tmp_path / "impossible.csv")
    m = SushiModel(trace_file=str(path))
    out = m.evaluate(m.batch(1))
    assert out["latency_slo_violation_pct"][0] == 100.0
    assert out["accuracy_slo_violation_pct"][0] == 100.0
    assert out["slo_violation_pct"][0] == 100.0
    assert np.isfinite(out["latency_ms"][0])


def test_bad_inputs_and_options_are_clear_errors(tmp_path: Path) -> None:
    bad = tmp_path / "trace.csv"
    bad.write_text("hello\n")
    with pytest.raises(ModelError, match=r"trace\.csv: line 1"):
        SushiModel(trace_file=str(bad))
    with pytest.raises(ModelError, match="fallback='drop'"):
        SushiModel(fallback="drop")
    with pytest.raises(ModelError, match="lab_table"):
        SushiModel().pool("ofa_resnet50", "lab_table", 8)
    m = SushiModel()
    with pytest.raises(ParamError, match="pb_mb=40"):
        m.batch(pb_mb=[40.0])
    with pytest.raises(ParamError, match="no parameter 'buffer'"):
        m.batch(buffer=[1.0])


def test_native_round_trip_and_breakdown(model: SushiModel) -> None:
    point = {p.name: p.default for p in model.inputs}
    native = model.native_config(point)
    assert set(native) == {
        "workload",
        "accelerator",
        "buffers",
        "scheduler",
        "stream",
        "energy",
        "links",
    }
    assert model.from_native(native) == point
    rows = model.breakdown({"pb_mb": 2.0})
    assert rows and {"layer", "kind", "weight_bytes", "hit_bytes", "miss_bytes"} <= set(rows[0])
    held = sum(r["hit_bytes"] for r in rows)
    assert 0 < held <= 2.0e6 + 1
    assert all(r["hit_bytes"] + r["miss_bytes"] == pytest.approx(r["weight_bytes"]) for r in rows)


def test_anchors_reproduce_headline_within_tolerance(model: SushiModel) -> None:
    anchors = [a for a in model.anchors() if a.kind == "consistency"]
    assert [a.published for a in anchors] == list(PUBLISHED.values())
    for a in anchors:
        assert a.tolerance == 0.10
        assert a.ok, (a.anchor, a.modeled, a.published)
    got = headline_metrics(model)
    # the regime is where weight fetch is about a third of latency and the PB hit ratio ~0.8
    assert 25.0 < got["weight_fetch_share_pct"] < 40.0
    assert 75.0 < got["hit_ratio_pct"] < 90.0


def test_gains_grow_with_buffer_and_shrink_with_bandwidth(model: SushiModel) -> None:
    pbs = [0.0, 1.0, 2.0, 3.0, 4.5, 6.0]
    by_pb = model.evaluate(
        model.batch(pb_mb=pbs, latency_query_share=0.0, n_queries=2000, **_hw_regime())
    )
    assert np.all(np.diff(by_pb["latency_saving_pct"]) > 0)
    assert np.all(np.diff(by_pb["offchip_energy_saving_pct"]) > 0)
    bws = [1.5, 3.0, 6.0, 12.0, 48.0]
    by_bw = model.evaluate(
        model.batch(
            dram_bw_gbps=bws,
            latency_query_share=0.0,
            n_queries=2000,
            **_hw_regime(exclude="dram_bw_gbps"),
        )
    )
    assert np.all(np.diff(by_bw["latency_saving_pct"]) < 0)
    assert by_bw["latency_saving_pct"][-1] < 5.0  # compute-bound: SGS barely helps latency
    # the off-chip energy saving tracks the hit ratio and stays high at every bandwidth (it
    # moves a few points only because the scheduler serves other SubNets)
    assert (by_bw["offchip_energy_saving_pct"] > 75.0).all()


def test_locality_matters_when_subnets_differ(model: SushiModel) -> None:
    # OFA-ResNet50 SubNets differ a lot (7.6-31 MB): a 16 MB PB helps more when the stream
    # stays in one regime long enough for the PB to follow it.
    common = dict(
        supernet="ofa_resnet50",
        pb_mb=16.0,
        dram_bw_gbps=10.0,
        latency_query_share=0.0,
        n_queries=4000,
    )
    iid = model.evaluate(model.batch(stream_kind=["iid"], **common))
    slow = model.evaluate(
        model.batch(stream_kind=["markov"], stream_dwell_queries=2000.0, **common)
    )
    assert slow["offchip_energy_saving_pct"][0] > iid["offchip_energy_saving_pct"][0] + 4.0
    # OFA-MBv3 at the headline regime: most cached bytes are shared by every SubNet, so
    # locality changes the savings by less than 2 points (see docs/models/sushi.md)
    mb_iid = model.evaluate(model.batch(stream_kind=["iid"], latency_query_share=0.0))
    mb_slow = model.evaluate(model.batch(stream_dwell_queries=[2000.0], latency_query_share=0.0))
    assert abs(mb_slow["latency_saving_pct"][0] - mb_iid["latency_saving_pct"][0]) < 2.0


def _hw_regime(exclude: str = "pb_mb") -> dict[str, object]:
    keep = ("pe_k", "pe_c", "pe_rs", "clock_mhz", "dram_bw_gbps", "pb_mb", "layer_overhead_us")
    return {k: HEADLINE_REGIME[k] for k in keep if k != exclude}


def test_small_batch_choice_table_matches_block_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    import costmodels.sushi._scheduler as sched

    model = SushiModel(impl="reference")  # the choice table is the reference scheduler's
    b = model.batch(
        pb_mb=[1.0, 4.5, 3.0],
        latency_query_share=[0.0, 1.0, 0.5],
        policy=["sushi", "cache_oblivious", "static_pb"],
        n_queries=1500,
    )
    fast = model.evaluate(b)
    monkeypatch.setattr(sched, "_CHOICE_TABLE_MAX", 0)
    slow = model.evaluate(b)
    for name in fast:
        assert np.allclose(fast[name], slow[name], equal_nan=True), name


def test_switch_accounting(model: SushiModel) -> None:
    pols = ["sushi", "static_pb", "no_pb"]
    out = model.evaluate(model.batch(policy=pols, n_queries=2000))
    assert out["switch_count"][1] == 1.0  # the one initial fill
    assert out["switch_count"][2] == 0.0
    assert out["switch_count"][0] > 1.0  # the PB follows the Markov regimes
    free = model.evaluate(model.batch(switch_blocking=[True, False], n_queries=2000))
    # the same decisions; a non-blocking refill only removes stalls
    assert free["switch_count"][0] == free["switch_count"][1]
    assert free["latency_ms"][1] <= free["latency_ms"][0]
    assert free["offchip_mb_per_query"][1] == pytest.approx(free["offchip_mb_per_query"][0])
