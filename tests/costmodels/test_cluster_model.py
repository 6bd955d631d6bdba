"""ClusterModel: protocol, vectorization, breakdown, failure behaviour, native round trip."""

from __future__ import annotations

import numpy as np
import pytest

from costmodels import ModelError, get_model
from costmodels.cluster import ClusterModel
from costmodels.cluster._model import TIME_OUTPUTS
from search_spaces import ParamError


@pytest.fixture(scope="module")
def model() -> ClusterModel:
    m = get_model("cluster")
    assert isinstance(m, ClusterModel)
    return m


def test_registry_and_every_output(model: ClusterModel) -> None:
    out = model.evaluate(model.batch(tp=[8, 4, 2], pp=[64, 32, 64]))
    assert set(out) == {o.name for o in model.outputs}
    for name, v in out.items():
        assert v.shape == (3,), name
        assert np.isfinite(v).all(), name
    assert set(model.constraint_names()) == {
        "invalid_config",
        "tp_outside_node",
        "mem_over_gb",
        "budget_over_usd",
    }


def test_breakdown_sums_to_iteration_time(model: ClusterModel) -> None:
    b = model.batch(
        tp=[8, 4],
        pp=[64, 32],
        microbatch=[1, 2],
        interleave=[2, 1],
        recompute=["full", "selective"],
        seq_parallel=[False, True],
        zero_stage=[0, 1],
        dp_overlap=[False, True],
        tp_overlap=[False, True],
    )
    out = model.evaluate(b)
    total = sum(out[k] for k in TIME_OUTPUTS)
    np.testing.assert_allclose(total, out["iter_time_s"], rtol=1e-12)
    for k in TIME_OUTPUTS:
        assert (out[k] >= 0).all(), k


def test_vectorized_equals_pointwise(model: ClusterModel) -> None:
    cols = dict(
        tp=[8, 4, 2, 8],
        pp=[64, 32, 16, 8],
        microbatch=[1, 2, 4, 1],
        recompute=["full", "none", "selective", "full"],
        exp_mem_topology=["none", "per_node", "pooled", "per_accelerator"],
        exp_mem_capacity_gb=[0.0, 1024.0, 65536.0, 512.0],
        offload_activations=[False, True, True, False],
        offload_optimizer=[False, False, True, True],
    )
    many = model.evaluate(model.batch(**cols))
    for i in range(4):
        one = model.evaluate(model.batch(**{k: [v[i]] for k, v in cols.items()}))
        for k in many:
            assert one[k][0] == pytest.approx(many[k][i], rel=1e-12, abs=1e-12), k


def test_chunked_evaluation_matches_whole(model: ClusterModel) -> None:
    from costmodels.cluster import _model as impl

    rng = np.random.default_rng(0)
    n = impl.CHUNK + 1000
    b = model.batch(n, tp=rng.choice([1, 2, 4, 8], n), pp=rng.choice([16, 32, 64], n))
    chunked = model.evaluate(b)
    whole = impl.evaluate_columns(impl.prepare(b, impl.workload_columns(model.workload)))
    for k in whole:
        np.testing.assert_array_equal(chunked[k], whole[k])


def test_invalid_combinations_are_violations_not_exceptions(model: ClusterModel) -> None:
    # heads 160: t=3 does not divide; L=128: p=3 does not; batch 3072 with d=... not divisible.
    b = model.batch(
        num_nodes=[384, 384, 384, 1, 384, 384],
        tp=[3, 8, 8, 8, 8, 16],
        pp=[64, 3, 64, 1, 64, 64],
        microbatch=[1, 1, 5, 1, 1, 1],
        interleave=[1, 1, 1, 1, 3, 1],
    )
    out = model.evaluate(b)
    assert out["invalid_config"][0] > 0  # TP does not divide heads (and the GPU count)
    assert out["invalid_config"][1] > 0  # PP does not divide layers
    assert out["invalid_config"][2] > 0  # batch not divisible by d * b
    assert out["invalid_config"][3] == 0  # 8 GPUs, t=8, p=1, d=1: valid ...
    assert out["mem_over_gb"][3] > 0  # ... but 1T does not fit: reported with the overflow
    assert out["invalid_config"][4] > 0  # interleave 3 does not divide L/p = 2
    assert out["tp_outside_node"][5] > 0  # TP 16 on 8-GPU nodes
    assert np.isfinite(out["iter_time_s"]).all()


def test_measured_megatron_config_is_feasible(model: ClusterModel) -> None:
    out = model.evaluate(model.batch())
    for name in model.constraint_names():
        assert out[name][0] <= 0, name
    # Megatron's 52% of peak is a 6ND-MFU of 38.7% (reference notes §2.1).
    assert out["mfu"][0] == pytest.approx(0.387, rel=0.10)
    assert out["hfu"][0] > out["mfu"][0]


def test_more_memory_kinds_and_zero(model: ClusterModel) -> None:
    out = model.evaluate(model.batch(zero_stage=[0, 1, 2, 3], pp=[1, 1, 1, 1], tp=[8, 8, 8, 8]))
    opt = out["mem_optimizer_gb"]
    assert opt[1] == pytest.approx(opt[0] / 384)  # d = 384
    assert out["mem_grads_gb"][2] == pytest.approx(out["mem_grads_gb"][0] / 384)
    assert out["mem_weights_gb"][3] == pytest.approx(out["mem_weights_gb"][0] / 384)
    assert out["time_dp_comm_s"][3] > out["time_dp_comm_s"][0]


def test_offload_needs_expansion_and_moves_memory(model: ClusterModel) -> None:
    b = model.batch(
        recompute="none",
        pp=32,
        exp_mem_topology=["none", "per_node", "per_node"],
        exp_mem_capacity_gb=[0.0, 2048.0, 2048.0],
        offload_activations=[True, True, False],
    )
    out = model.evaluate(b)
    assert out["mem_over_gb"][0] > 0  # nowhere to offload to
    assert out["mem_over_gb"][1] <= 0 < out["mem_over_gb"][2]
    assert out["mem_expansion_gb"][1] > 0 == out["mem_expansion_gb"][2]
    assert out["mem_activations_gb"][1] < out["mem_activations_gb"][2]


def test_shared_expansion_is_slower_than_private(model: ClusterModel) -> None:
    b = model.batch(
        recompute="none",
        pp=32,
        offload_activations=True,
        exp_mem_topology=["per_accelerator", "per_node", "pooled"],
        exp_mem_capacity_gb=[128.0, 1024.0, 400000.0],
        exp_mem_bw_gbps=64.0,
    )
    off = model.evaluate(b)["time_offload_s"]
    assert off[0] <= off[1] < off[2]


def test_faster_network_and_compute_help(model: ClusterModel) -> None:
    base = model.evaluate(model.batch(inter_bw_gbps=[25.0, 100.0], intra_bw_gbps=[300.0, 900.0]))
    assert base["time_tp_comm_s"][1] < base["time_tp_comm_s"][0]
    assert base["time_pp_comm_s"][1] < base["time_pp_comm_s"][0]
    fast = model.evaluate(model.batch(peak_tflops=[312.0, 989.0]))
    assert fast["time_fwd_s"][1] < fast["time_fwd_s"][0] / 2


def test_fp8_needs_an_fp8_engine(model: ClusterModel) -> None:
    out = model.evaluate(model.batch(dtype=["fp8", "fp8"], peak_tflops_fp8=[0.0, 1979.0]))
    assert out["invalid_config"][0] > 0 and out["invalid_config"][1] == 0


def test_budget_and_costs(model: ClusterModel) -> None:
    out = model.evaluate(model.batch(budget_usd=[0.0, 1e6], hbm_capacity_gb=[80.0, 120.0]))
    assert out["budget_over_usd"][0] == 0 and out["budget_over_usd"][1] > 0
    assert out["capex_usd"][1] > out["capex_usd"][0]
    # 3072 GPUs x (20k + 10k HBM + 3k scale-up + 25 x (60 + 3 x 40)) + 384 nodes x 40k
    assert out["capex_usd"][0] == pytest.approx(3072 * (20000 + 10000 + 3000 + 4500) + 384 * 40000)
    assert out["energy_mwh"][0] > 0


def test_breakdown_rows(model: ClusterModel) -> None:
    rows = model.breakdown({"tp": 8, "pp": 64})
    time_rows = [r for r in rows if "seconds" in r]
    mem_rows = [r for r in rows if "gb" in r]
    assert [r["component"] for r in time_rows][:8] == [
        "fwd",
        "bwd",
        "recompute",
        "bubble",
        "tp_comm",
        "pp_comm",
        "dp_comm",
        "offload",
    ]
    assert {r["component"] for r in mem_rows} >= {"mem_weights", "mem_activations"}
    total = model.evaluate(model.batch())["iter_time_s"][0]
    assert sum(r["seconds"] for r in time_rows) == pytest.approx(total)


def test_native_round_trip(model: ClusterModel) -> None:
    params = {
        "tp": 4,
        "pp": 32,
        "recompute": "selective",
        "seq_parallel": True,
        "exp_mem_topology": "per_node",
        "hbm_capacity_gb": 120.0,
    }
    native = model.native_config(params)
    assert native["workload"]["layers"] == 128
    assert native["execution"]["tp"] == 4
    back = model.from_native(native)
    assert back == {
        p.name: model.native_config(params)[g][p.name]
        for g in ("cluster", "prices", "execution", "workload")
        for p in model.inputs
        if p.name in native[g]
    }
    assert model.native_config(back) == native


def test_bad_input_is_a_clear_error(model: ClusterModel) -> None:
    with pytest.raises(ParamError, match="tp"):
        model.batch(tp=0)
    with pytest.raises(ParamError, match="no parameter 'tpp'"):
        model.batch(tpp=8)
    with pytest.raises(ParamError, match="recompute"):
        model.batch(recompute="some")
    with pytest.raises(ModelError, match="unknown workload 'gpt5'"):
        ClusterModel(workload="gpt5")


def test_fast_batch_equals_the_protocol_batch(model: ClusterModel) -> None:
    from costmodels import CostModel

    cols = dict(
        tp=[8, 4],
        recompute=np.asarray(["full", "none"]),
        seq_parallel=[False, True],
        exp_mem_topology="per_node",
        hbm_capacity_gb=120,
        zero_stage=[0, 3],
    )
    fast = model.batch(**cols)
    slow = CostModel.batch(model, **cols)
    assert fast.keys() == slow.keys()
    for k in fast:
        assert fast[k].dtype == slow[k].dtype, k
        np.testing.assert_array_equal(fast[k], slow[k])
    with pytest.raises(ParamError, match="recompute"):
        model.batch(recompute=np.asarray(["full", "bogus"]))
    with pytest.raises(ParamError, match="different lengths"):
        model.batch(tp=[1, 2], pp=[1, 2, 4])


def test_preset_and_defaults_options() -> None:
    h100 = get_model("cluster", preset="h100_sxm", defaults={"budget_usd": 1e6})
    assert isinstance(h100, ClusterModel)
    b = h100.batch()
    assert b["peak_tflops"][0] == 989.0 and b["inter_bw_gbps"][0] == 50.0
    out = h100.evaluate(b)
    a100 = ClusterModel().evaluate(ClusterModel().batch())
    assert out["iter_time_s"][0] < a100["iter_time_s"][0]
    assert out["budget_over_usd"][0] > 0
    assert ClusterModel.input("peak_tflops").default == 312.0  # the class is untouched
    with pytest.raises(ModelError, match="unknown preset 'tpu'"):
        ClusterModel(preset="tpu")
    with pytest.raises(ModelError, match="unknown input 'peak'"):
        ClusterModel(defaults={"peak": 1.0})
    with pytest.raises(ParamError, match="tp"):
        ClusterModel(defaults={"tp": 0})


def test_native_config_of_another_workload_is_refused(model: ClusterModel) -> None:
    native = ClusterModel(workload="gpt3_175b").native_config({"tp": 8})
    with pytest.raises(ModelError, match="workload.layers=96"):
        model.from_native(native)
    with pytest.raises(ModelError, match=r"\[execution\] must be a table"):
        model.from_native({"execution": 3})


def test_summed_gemm_time_equals_per_gemm_efficiency() -> None:
    from costmodels.cluster._hardware import matmul_efficiency
    from costmodels.cluster._timing import _gemms_time

    flops = np.array([3e8, 2e9, 7e10, 1.2e12])
    peak, eff = 312e12, 0.7
    per_gemm = np.sum(flops / (peak * matmul_efficiency(flops, eff)))
    assert _gemms_time(flops.sum(), len(flops), peak * eff) == pytest.approx(per_gemm)


def test_any_point_of_the_declared_ranges_gives_finite_outputs(model: ClusterModel) -> None:
    rng = np.random.default_rng(1)
    n = 20_000
    cols = {p.name: p.sample(rng, n) for p in model.inputs}
    out = model.evaluate(model.batch(**cols))
    for name, v in out.items():
        assert np.isfinite(v).all(), name
    for name in model.metric_names():
        if name.startswith(("time_", "mem_")) or name in ("iter_time_s", "capex_usd"):
            assert (out[name] >= 0).all(), name


def test_native_config_fills_the_workloads_own_batch_and_tokens() -> None:
    model = ClusterModel(workload="megatron_1t")
    native = model.native_config({"tp": 8, "pp": 64})
    # 0 ("the workload's own") is exported as the value the point was evaluated with.
    assert native["workload"]["global_batch"] == 3072
    assert native["workload"]["train_tokens"] == 450e9
    flat = model.from_native(native)
    cols = {p.name: np.asarray([flat.get(p.name, p.default)], dtype=p.dtype) for p in model.inputs}
    base = {p.name: np.asarray([{"tp": 8, "pp": 64}.get(p.name, p.default)], dtype=p.dtype)
            for p in model.inputs}
    a, b = model.evaluate(cols), model.evaluate(base)
    assert all(np.array_equal(a[k], b[k], equal_nan=True) for k in b)
