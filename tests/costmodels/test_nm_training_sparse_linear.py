"""N:M masks and the nn.Linear parametrization: exactness, axes, backward rules, errors."""

from __future__ import annotations

from typing import Any

import pytest


torch = pytest.importorskip("torch")


from torch import nn  # noqa: E402

from costmodels import ModelError  # noqa: E402
from costmodels.nm_training import Recipe  # noqa: E402
from costmodels.nm_training._masks import count_violations, nm_mask  # noqa: E402
from costmodels.nm_training._model import torch_threads  # noqa: E402
from costmodels.nm_training._sparse_linear import deploy, match_linears, sparsify  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread() -> Any:
    # Tiny tensors are latency-bound: extra intra-op threads only contend on a shared machine.
    with torch_threads(torch, 1):
        yield


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.ff = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 32))
        self.q = nn.Linear(32, 32)
        self.head = nn.Linear(32, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.q(self.ff(x)))  # type: ignore[no-any-return]


@pytest.mark.parametrize("axis", ["input", "output"])
@pytest.mark.parametrize(("n", "m"), [(2, 4), (1, 8), (3, 16), (1, 32)])
def test_mask_keeps_the_n_largest_of_every_group(axis: str, n: int, m: int) -> None:
    w = torch.randn(64, 64)
    mask = nm_mask(w, n, m, axis)  # type: ignore[arg-type]
    groups = (mask if axis == "input" else mask.t()).reshape(-1, m)
    assert torch.all(groups.sum(dim=1) == n)
    mags = (w.abs() if axis == "input" else w.abs().t()).reshape(-1, m)
    kept_min = torch.where(groups > 0, mags, torch.inf).min(dim=1).values
    dropped_max = torch.where(groups > 0, -torch.inf, mags).max(dim=1).values
    assert torch.all(kept_min >= dropped_max)
    assert count_violations(w * mask, n, m, axis) == 0  # type: ignore[arg-type]
    assert count_violations(w, n, m, axis) > 0  # type: ignore[arg-type]


def test_input_axis_groups_run_along_the_reduction_dimension() -> None:
    w = torch.tensor([[1.0, 5.0, 2.0, 3.0], [4.0, 0.5, 0.1, 0.2]])
    assert nm_mask(w, 1, 4, "input").tolist() == [[0, 1, 0, 0], [1, 0, 0, 0]]
    w2 = torch.tensor([[1.0, 0.0], [5.0, 0.0], [2.0, 1.0], [3.0, 0.0]])
    assert nm_mask(w2, 1, 4, "output")[:, 0].tolist() == [0, 1, 0, 0]


def test_patterns_select_layers_and_unknown_names_are_errors() -> None:
    net = Net()
    assert sorted(match_linears(net, ["ff.*"])) == ["ff.0", "ff.2"]
    assert sorted(match_linears(net, ["q", "head"])) == ["head", "q"]
    with pytest.raises(ModelError, match="'blocks.0.fc1' matches no nn.Linear"):
        sparsify(net, ["blocks.0.fc1"], Recipe(recipe="srste", n=1, m=4, total_steps=10))


def test_m_not_dividing_the_reduction_dimension_is_an_error_naming_m() -> None:
    net = nn.Sequential(nn.Linear(24, 16))
    with pytest.raises(ModelError, match=r"m=16 does not divide the reduction dimension.*24"):
        sparsify(net, ["0"], Recipe(recipe="srste", n=1, m=16, total_steps=10))
    # The output dimension (16) is divisible, so masking along it is fine.
    sparsify(net, ["0"], Recipe(recipe="srste", n=1, m=16, total_steps=10), axis="output")


def _grad_through(recipe: Recipe, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    lin = nn.Linear(8, 4, bias=False)
    ctrl = sparsify(nn.ModuleDict({"l": lin}), ["l"], recipe)
    ctrl.set_step(step)
    x = torch.randn(5, 8)
    lin(x).sum().backward()
    w = lin.parametrizations.weight.original
    mask = ctrl.layers["l"].mask
    assert mask is not None
    plain = torch.ones(5, 4).t() @ x  # dL/dW~ of sum(W~ x)
    return w.grad, mask, plain


def test_backward_rules() -> None:
    kw = {"n": 1, "m": 4, "total_steps": 100, "dense_warmup_frac": 0.0}
    g, mask, plain = _grad_through(Recipe(recipe="ste", **kw), 10)
    assert torch.allclose(g, plain)  # straight-through: pruned weights get the full gradient
    g, mask, plain = _grad_through(Recipe(recipe="mdgf_exp", backward="scaled", **kw), 10)
    d = Recipe(recipe="mdgf_exp", **kw).decay_at(10)
    assert 0 < d < 1
    assert torch.allclose(g, plain * (mask + d * (1 - mask)))
    g, mask, plain = _grad_through(Recipe(recipe="mdgf_exp", backward="ste", **kw), 10)
    assert torch.allclose(g, plain)
    g, mask, plain = _grad_through(Recipe(recipe="srste", srste_lambda_w=0.5, **kw), 10)
    torch.manual_seed(0)
    w0 = nn.Linear(8, 4, bias=False).weight
    assert torch.allclose(g, plain + 0.5 * (1 - mask) * w0)


def test_soft_mask_forward_and_deploy_gives_exact_nm() -> None:
    net = Net()
    recipe = Recipe(
        recipe="mdgf_linear",
        n=1,
        m=8,
        total_steps=100,
        dense_warmup_frac=0.0,
        decay_end_frac=0.5,
        decay_final=0.0,
    )
    ctrl = sparsify(net, ["ff.*"], recipe)
    ctrl.set_step(25)
    w = net.ff[0].parametrizations.weight.original.detach().clone()
    mask = nm_mask(w, 1, 8)
    assert torch.allclose(net.ff[0].weight, w * (mask + 0.5 * (1 - mask)), atol=1e-6)
    ctrl.set_step(60)
    assert count_violations(net.ff[0].weight, 1, 8) == 0
    assert deploy(ctrl, net) == {"ff.0": 0, "ff.2": 0}
    assert not hasattr(net.ff[0], "parametrizations")
    assert count_violations(net.ff[2].weight, 1, 8) == 0
    assert count_violations(net.q.weight, 1, 8) > 0  # untouched layer stays dense


def test_mask_update_interval_keeps_the_mask_between_updates() -> None:
    net = nn.ModuleDict({"l": nn.Linear(16, 16)})
    ctrl = sparsify(
        net,
        ["l"],
        Recipe(
            recipe="ste", n=1, m=4, total_steps=100, dense_warmup_frac=0.0, mask_update_interval=10
        ),
    )
    ctrl.set_step(0)
    net["l"].weight  # noqa: B018 - computes the mask
    first = ctrl.layers["l"].mask.clone()
    with torch.no_grad():
        net["l"].parametrizations.weight.original.mul_(torch.rand(16, 16) * 4)
    ctrl.set_step(5)
    net["l"].weight  # noqa: B018
    assert torch.equal(ctrl.layers["l"].mask, first)
    ctrl.set_step(10)
    net["l"].weight  # noqa: B018
    assert not torch.equal(ctrl.layers["l"].mask, first)
