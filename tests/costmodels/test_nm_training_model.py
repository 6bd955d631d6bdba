"""NMTrainingModel: deployed weights are exactly N:M for every recipe, failures, cache, pruning."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from costmodels import ModelError, PruneRequested, get_model
from costmodels.nm_training import RECIPES, NMTrainingModel, Recipe
from costmodels.nm_training._model import _PROXY_SHAPES, torch_threads
from search_spaces import ParamError


torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _one_thread() -> Any:
    # Tiny trainings are latency-bound: extra intra-op threads only contend on a shared machine.
    with torch_threads(torch, 1):
        yield


from costmodels.nm_training import _proxy  # noqa: E402


class Context:
    """Records reports; prunes after ``prune_after`` reports."""

    def __init__(self, prune_after: int | None = None) -> None:
        self.reports: list[tuple[int, Mapping[str, float]]] = []
        self.prune_after = prune_after

    def report(self, step: int, values: Mapping[str, float]) -> None:
        self.reports.append((step, dict(values)))

    def should_prune(self) -> bool:
        return self.prune_after is not None and len(self.reports) >= self.prune_after


def tiny(**options: Any) -> NMTrainingModel:
    model = get_model(
        "nm_training", fidelity="tiny", cache_dir=options.pop("cache_dir", None), **options
    )
    assert isinstance(model, NMTrainingModel)
    return model


def test_fidelity_shapes_match_the_proxy_configs() -> None:
    for name, shape in _PROXY_SHAPES.items():
        cfg = _proxy.FIDELITIES[name]
        assert {k: getattr(cfg, k) for k in shape} == shape


@pytest.mark.parametrize("recipe", [r for r in RECIPES if r != "dense"])
def test_every_recipe_deploys_exactly_nm_weights(recipe: str) -> None:
    cfg = _proxy.FIDELITIES["tiny"]
    for n, m, axis in ((1, 16, "input"), (2, 4, "output")):
        r = Recipe(recipe=recipe, n=n, m=m, total_steps=cfg.steps, sdgf_k=4)
        res = _proxy.train_proxy(cfg, r, "ff+qkv", axis, seed=1)  # type: ignore[arg-type]
        assert res.failure == "" and np.isfinite(res.val_acc)
        assert res.nm_violations == 0


def test_deployed_model_weights_are_nm_when_inspected() -> None:
    cfg = _proxy.FIDELITIES["tiny"]
    r = Recipe(recipe="mdgf_exp", n=1, m=8, total_steps=cfg.steps)
    seen: dict[str, Any] = {}
    real_deploy = _proxy.deploy

    def spy(controller: Any, module: Any) -> dict[str, int]:
        out = real_deploy(controller, module)
        seen.update({k: v.detach().clone() for k, v in module.state_dict().items()})
        return out

    _proxy.deploy = spy  # type: ignore[assignment]
    try:
        _proxy.train_proxy(cfg, r, "ff", "input", seed=0)
    finally:
        _proxy.deploy = real_deploy  # type: ignore[assignment]
    for name in ("blocks.0.ff.fc1.weight", "blocks.0.ff.fc2.weight"):
        nonzero = (seen[name].reshape(-1, 8) != 0).sum(dim=1)
        assert int(nonzero.max()) <= 1
    assert (
        int((seen["blocks.0.attn.q.weight"] != 0).sum()) == seen["blocks.0.attn.q.weight"].numel()
    )


def test_evaluate_returns_every_output_and_reports_curves() -> None:
    model = tiny()
    ctx = Context()
    out = model.evaluate(model.batch(recipe="srste", n=1, m=16), ctx)
    assert set(out) == {o.name for o in model.outputs}
    assert 0.0 <= out["top1_acc"][0] <= 100.0 and out["recipe_violation"][0] <= 0
    assert out["grad_abs_var"][0] > 0 and out["mask_flip_rate"][0] >= 0
    steps = [s for s, _ in ctx.reports]
    assert steps == sorted(steps) and steps[-1] == _PROXY_SHAPES["tiny"]["steps"]
    assert set(ctx.reports[0][1]) == {"val_acc", "val_loss"}


def test_prune_requested_stops_the_training() -> None:
    model = tiny()
    with pytest.raises(PruneRequested):
        model.evaluate(model.batch(recipe="mdgf_exp", n=1, m=16), Context(prune_after=1))


def test_nan_loss_gives_nan_outputs_with_the_reason() -> None:
    model = tiny(lr=1e6)
    with pytest.warns(RuntimeWarning, match="diverged"):
        out = model.evaluate(model.batch(recipe="srste", n=1, m=16))
    assert np.isnan(out["top1_acc"][0]) and np.isnan(out["val_loss"][0])
    assert np.isfinite(out["train_flops"][0])
    assert "diverged" in model.last_failures[0]


def test_infeasible_points_are_violations_not_trainings() -> None:
    model = tiny()
    batch = model.batch(
        recipe=["srste", "mdgf_exp", "sdgf_stepwise", "srste"],
        n=[5, 1, 1, 1],
        m=[4, 16, 16, 64],
        dense_warmup_frac=[0.05, 0.3, 0.05, 0.05],
        decay_end_frac=[0.7, 0.2, 0.95, 0.7],
    )
    out = model.evaluate(batch)
    assert np.all(out["recipe_violation"] > 0)
    assert np.all(np.isnan(out["top1_acc"]))
    reasons = model.last_failures
    assert "n" in reasons[0]
    assert "decay_end_frac" in reasons[1] and "warm-up" in reasons[1]
    assert "decay_end_frac" in reasons[2] and "fine-tune" in reasons[2]
    assert "m (does not divide" in reasons[3]


def test_cache_makes_a_repeated_config_free(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tiny(cache_dir=tmp_path)
    batch = model.batch(recipe="sdgf_geometric", n=1, m=16, sdgf_k=4)
    first = model.evaluate(batch)
    calls = []

    def stub(*args: Any, **kwargs: Any) -> None:
        calls.append(args)
        raise RuntimeError("trained again")

    monkeypatch.setattr(_proxy, "train_proxy", stub)
    ctx = Context()
    again = tiny(cache_dir=tmp_path).evaluate(batch, ctx)
    assert not calls
    assert again["top1_acc"][0] == first["top1_acc"][0]
    assert ctx.reports  # the cached curve is replayed for the pruner and dashboards
    # A different step budget is a different config: a cache miss, so it trains.
    with pytest.raises(RuntimeError, match="trained again"):
        tiny(cache_dir=tmp_path, steps=30).evaluate(batch)


def test_seeds_are_averaged(tmp_path: Path) -> None:
    model = tiny(cache_dir=tmp_path, n_seeds=2)
    out = model.evaluate(model.batch(recipe="ste", n=1, m=16))
    single = [
        tiny(cache_dir=tmp_path).evaluate(model.batch(recipe="ste", n=1, m=16, seed=s))
        for s in (0, 1)
    ]
    accs = [s["top1_acc"][0] for s in single]
    assert out["top1_acc"][0] == pytest.approx(np.mean(accs))
    assert out["top1_acc_std"][0] == pytest.approx(np.std(accs, ddof=1))


def test_breakdown_has_phase_rows_and_the_curve_once_trained(tmp_path: Path) -> None:
    model = tiny(cache_dir=tmp_path)
    params = {"recipe": "sdgf_stepwise", "n": 1, "m": 16}
    rows = model.breakdown(params)
    assert [r["phase"] for r in rows][:3] == ["dense_warmup", "sdgf_15:16", "sdgf_8:16"]
    assert not [r for r in rows if r["kind"] == "curve"]
    total = model.accounting(model.batch(**params))["train_flops"][0]
    assert sum(r["train_flops"] for r in rows) == pytest.approx(total, rel=0.02)
    model.evaluate(model.batch(**params))
    curve = [r for r in model.breakdown(params) if r["kind"] == "curve"]
    assert curve and {"step", "val_acc", "val_loss"} <= set(curve[0])


def test_native_config_round_trips() -> None:
    model = tiny()
    batch = model.batch(recipe="mdgf_linear", n=2, m=8, backward="scaled")
    params = {k: v[0].item() for k, v in batch.items()}
    native = model.native_config(params)
    assert native["pattern"] == {"n": 2, "m": 8, "sparse_layers": "ff", "mask_axis": "input"}
    assert model.from_native(native) == params
    with pytest.raises(ModelError, match="schedule.decay_rate"):
        model.from_native({**native, "schedule": {"decay_rate": 1e-4}})


def test_bad_options_and_inputs_are_one_line_errors() -> None:
    with pytest.raises(ModelError, match="fidelity"):
        NMTrainingModel(fidelity="huge")
    with pytest.raises(ModelError, match="workload"):
        NMTrainingModel(workload="gpt")
    with pytest.raises(ParamError, match="n=0"):
        tiny().batch(n=0)
    with pytest.raises(ParamError, match="recipe"):
        tiny().batch(recipe="magic")


def test_missing_torch_is_a_model_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)
    model = tiny()
    with pytest.raises(ModelError, match=r"pip install 'dse\[train\]'"):
        model.evaluate(model.batch(recipe="srste", n=1, m=16))


def test_accounting_for_vit_b_workload() -> None:
    model = tiny(workload="vit_b")
    out = model.accounting(model.batch(recipe=["dense", "srste"], n=1, m=32))
    assert out["inference_flops"][0] == pytest.approx(34.71e9, rel=0.01)
    assert out["inference_flops"][1] == pytest.approx(13.20e9, rel=0.01)
    assert out["train_flops"][1] < out["train_flops"][0]
