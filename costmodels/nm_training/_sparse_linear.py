"""Apply an N:M recipe to chosen ``nn.Linear`` layers of any ``nn.Module``.

:func:`sparsify` registers a parametrization (``torch.nn.utils.parametrize``) on the weight of
every ``nn.Linear`` whose qualified name matches one of the patterns (``fnmatch`` globs or exact
names). The dense weight stays the trained parameter; the forward pass sees

    W~ = W * (Phi + D (1 - Phi))

with ``Phi`` the N:M magnitude mask of the recipe's current stage and ``D`` its decay factor. The
backward pass (:class:`_MaskedWeight`) hands ``dL/dW~`` to ``W`` unchanged (straight-through) or
multiplied by the soft mask (``backward="scaled"``), plus the SR-STE term
``lambda_w (1 - Phi) W``. :func:`deploy` removes the parametrizations and leaves the weights
exactly N:M at the target pattern.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize

from costmodels._protocol import ModelError
from costmodels.nm_training._masks import MaskAxis, check_group, count_violations, nm_mask
from costmodels.nm_training._recipes import Recipe, StepState


__all__ = ["NMController", "NMWeight", "deploy", "match_linears", "sparsify"]


class _MaskedWeight(torch.autograd.Function):
    """``W * soft`` with a chosen backward rule (straight-through or scaled) and SR-STE term."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        w: torch.Tensor,
        mask: torch.Tensor,
        decay: float,
        scale_grad: bool,
        lambda_w: float,
    ) -> torch.Tensor:
        soft = mask if decay == 0.0 else mask + decay * (1.0 - mask)
        ctx.save_for_backward(w, mask, soft)
        ctx.scale_grad, ctx.lambda_w = scale_grad, lambda_w
        return w * soft

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        w, mask, soft = ctx.saved_tensors
        out = grad * soft if ctx.scale_grad else grad
        if ctx.lambda_w:
            out = out + ctx.lambda_w * (1.0 - mask) * w
        return out, None, None, None, None


class NMController:
    """Shared schedule state of every sparse layer of one model: the recipe and the step."""

    def __init__(self, recipe: Recipe, axis: MaskAxis = "input") -> None:
        self.recipe = recipe
        self.axis: MaskAxis = axis
        self.step = 0
        self.state: StepState = recipe.state_at(0)
        self.layers: dict[str, NMWeight] = {}

    def set_step(self, step: int) -> None:
        self.step = step
        self.state = self.recipe.state_at(step)


class NMWeight(nn.Module):
    """The parametrization of one layer's weight under an :class:`NMController`."""

    def __init__(self, controller: NMController, name: str) -> None:
        super().__init__()
        self.controller = controller
        self.layer_name = name
        self.mask: torch.Tensor | None = None
        self.mask_pattern: tuple[int, int] | None = None
        self.mask_step = -1
        self.flips = 0.0  # fraction of mask entries changed at the last recomputation

    def _refresh_mask(self, w: torch.Tensor, n: int, m: int) -> torch.Tensor:
        c = self.controller
        stale = (
            self.mask is None
            or self.mask_pattern != (n, m)
            or (c.step - self.mask_step) >= c.recipe.mask_update_interval
        )
        if stale and self.mask_step != c.step:
            new = nm_mask(w, n, m, c.axis)
            if self.mask is not None and self.mask_pattern == (n, m):
                self.flips = float((new != self.mask).float().mean())
            self.mask, self.mask_pattern, self.mask_step = new, (n, m), c.step
        assert self.mask is not None
        return self.mask

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        s = self.controller.state
        if s.kind == "dense":
            return w
        mask = self._refresh_mask(w, s.n, s.m)
        return _MaskedWeight.apply(w, mask, s.decay, s.scale_grad, s.lambda_w)  # type: ignore[no-any-return]


def match_linears(module: nn.Module, patterns: Sequence[str]) -> dict[str, nn.Linear]:
    """The ``nn.Linear`` layers whose qualified names match the patterns.

    Raises:
        ModelError: naming a pattern that matches no ``nn.Linear``.
    """
    linears = {name: mod for name, mod in module.named_modules() if isinstance(mod, nn.Linear)}
    chosen: dict[str, nn.Linear] = {}
    for pattern in patterns:
        hits = [name for name in linears if fnmatch.fnmatchcase(name, pattern)]
        if not hits:
            raise ModelError(
                f"layer {pattern!r} matches no nn.Linear of the model; expected names like "
                f"{', '.join(list(linears)[:8])}"
            )
        chosen |= {name: linears[name] for name in hits}
    return chosen


def sparsify(
    module: nn.Module, patterns: Sequence[str], recipe: Recipe, axis: MaskAxis = "input"
) -> NMController:
    """Parametrize the matching ``nn.Linear`` weights of ``module`` with ``recipe``.

    Raises:
        ModelError: a pattern matches nothing, or a group size of the recipe does not divide a
            layer's grouped dimension (naming the layer and ``m``).
    """
    if axis not in ("input", "output"):
        raise ModelError(f"mask_axis={axis!r}: expected 'input' or 'output'")
    layers = match_linears(module, patterns)
    for name, lin in layers.items():
        check_group(lin.weight.shape, recipe.m, axis, name)
        for mi in recipe.group_sizes():
            if lin.weight.numel() % mi:
                raise ModelError(
                    f"sdgf_k={recipe.sdgf_k}: group size {mi} does not divide the "
                    f"{lin.weight.shape[0]}x{lin.weight.shape[1]} weight of layer {name!r}"
                )
    controller = NMController(recipe, axis)
    if recipe.recipe == "dense":
        return controller
    for name, lin in layers.items():
        param = NMWeight(controller, name)
        parametrize.register_parametrization(lin, "weight", param, unsafe=True)
        controller.layers[name] = param
    return controller


def dense_weights(controller: NMController, module: nn.Module) -> dict[str, torch.Tensor]:
    """The trained dense weights ``W`` of the sparse layers (the optimizer's parameters)."""
    mods = dict(module.named_modules())
    return {
        name: mods[name].parametrizations.weight.original  # type: ignore[union-attr,index]
        for name in controller.layers
    }


def deploy(controller: NMController, module: nn.Module) -> dict[str, int]:
    """Fold the target N:M mask into the weights and drop the parametrizations.

    Returns:
        Per layer, the number of groups violating N:M afterwards (all 0 by construction).
    """
    r = controller.recipe
    mods = dict(module.named_modules())
    violations: dict[str, int] = {}
    with torch.no_grad():
        for name in controller.layers:
            lin = mods[name]
            w = lin.parametrizations.weight.original  # type: ignore[union-attr,index]
            sparse = w * nm_mask(w, r.n, r.m, controller.axis)
            parametrize.remove_parametrizations(lin, "weight", leave_parametrized=False)
            lin.weight.copy_(sparse)  # type: ignore[operator]
            violations[name] = count_violations(lin.weight, r.n, r.m, controller.axis)  # type: ignore[arg-type]
    controller.layers.clear()
    return violations
