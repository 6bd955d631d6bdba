"""Training recipes for N:M sparsity: the schedule of phases and what each step does.

Pure Python (no torch): the proxy training asks :meth:`Recipe.state_at` what to do at each step,
and the FLOPs accounting reads the same phase boundaries.

Phases (Bambhaniya et al., CPAL 2025, App. A; official code ``SparseLinear.get_sparse_weights``):

1. dense warm-up for ``dense_warmup_frac`` of the steps (every recipe, SR-STE included, so
   recipes are compared with equal warm-up);
2. the recipe's sparse phase:

   * ``ste``: forward ``W * Phi``, gradient applied unchanged to the dense ``W``;
   * ``srste``: STE plus ``lambda_w * (1 - Phi) * W`` added to the gradient (Zhou et al. 2021;
     default ``lambda_w = 2e-4`` as hard-coded in the official code);
   * ``mdgf_linear`` / ``mdgf_exp``: ``W~ = W * (Phi + D(j) (1 - Phi))`` with
     ``D(j) = max(1 - beta j, 0)`` or ``exp(-beta j)``, ``j`` counted from the end of the warm-up.
     ``beta`` is set from where the decay ends: ``D(decay_end) = decay_final``, i.e.
     ``beta = (1 - decay_final) / span`` (linear) or ``ln(1 / decay_final) / span`` (exp), with
     ``span`` the steps from warm-up end to ``decay_end_frac``. After ``decay_end_frac`` the mask
     is binary (``D = 0``);
   * ``sdgf_stepwise``: binary masks (M-1):M, M/2:M, M/4:M, ... down to the target N:M;
   * ``sdgf_geometric``: binary masks (kN/2^d):(kM/2^d), d = 0 .. log2 k, at constant density.
     The non-target stages of both SDGF chains split ``[warm-up end, decay_end_frac)`` evenly
     ([paper] §3 "evenly partition"); the target pattern runs from ``decay_end_frac`` on;

3. binary fine-tuning with plain STE for the last ``finetune_frac`` of the steps.

``backward`` picks the gradient rule of decayed (MDGF) weights, because the two published
implementations differ: ``"ste"`` (official PyTorch code: ``dL/dW = dL/dW~``) or ``"scaled"``
(paper equation and Google's Praxis: autodiff through the soft mask, ``dL/dW = dL/dW~ * soft``,
so pruned weights get no gradient once ``D = 0`` until the fine-tune).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from costmodels._protocol import ModelError


__all__ = [
    "BACKWARD_RULES",
    "DECAY_RECIPES",
    "RECIPES",
    "Recipe",
    "Segment",
    "StepState",
    "sdgf_chain",
]

RECIPES = (
    "dense",
    "ste",
    "srste",
    "mdgf_linear",
    "mdgf_exp",
    "sdgf_stepwise",
    "sdgf_geometric",
)
# Recipes whose schedule has a decay phase ending at ``decay_end_frac``.
DECAY_RECIPES = ("mdgf_linear", "mdgf_exp", "sdgf_stepwise", "sdgf_geometric")
MDGF_RECIPES = ("mdgf_linear", "mdgf_exp")
SDGF_RECIPES = ("sdgf_stepwise", "sdgf_geometric")
BACKWARD_RULES = ("ste", "scaled")

Kind = Literal["dense", "soft", "sparse", "finetune"]


def sdgf_chain(recipe: str, n: int, m: int, k: int = 16) -> list[tuple[int, int]]:
    """The N:M patterns an SDGF recipe goes through, the target last.

    Stepwise: ``(M-1):M, M/2:M, M/4:M, ...`` while above ``N``, then ``N:M`` ([paper] §3;
    1:32 gives 31:32, 16:32, 8:32, 4:32, 2:32, 1:32). Geometric with ``k``:
    ``(kN/2^d):(kM/2^d)`` for ``d = 0 .. log2 k`` ([paper] uses k = 16, the code k = 8).

    Raises:
        ModelError: naming ``sdgf_k`` when it is not a power of two.
    """
    if recipe == "sdgf_stepwise":
        stages = [m - 1] if m - 1 > n else []
        d = 1
        while m // 2**d > n:
            if m // 2**d < m - 1:
                stages.append(m // 2**d)
            d += 1
        return [(s, m) for s in stages] + [(n, m)]
    if recipe == "sdgf_geometric":
        if k < 1 or k & (k - 1):
            raise ModelError(f"sdgf_k={k} must be a power of two (4, 8, 16, 32)")
        steps = int(math.log2(k))
        return [(n * k // 2**d, m * k // 2**d) for d in range(steps + 1)]
    return [(n, m)]


@dataclass(frozen=True)
class StepState:
    """What the sparse layers do at one training step.

    Attributes:
        kind: ``dense`` (plain weights), ``soft`` (MDGF with ``decay > 0``), ``sparse`` (binary
            mask, the recipe's own gradient rule), ``finetune`` (binary mask, plain STE).
        n: Kept weights per group at this step.
        m: Group size at this step.
        decay: ``D`` of the soft mask (0 for binary masks).
        scale_grad: Multiply the gradient by the soft mask (``backward="scaled"``).
        lambda_w: SR-STE weight on pruned weights (0 for other recipes).
    """

    kind: Kind
    n: int
    m: int
    decay: float = 0.0
    scale_grad: bool = False
    lambda_w: float = 0.0


@dataclass(frozen=True)
class Segment:
    """A run of steps ``[start, end)`` with one phase kind and one N:M pattern."""

    name: str
    start: int
    end: int
    kind: Kind
    n: int
    m: int


@dataclass(frozen=True)
class Recipe:
    """A complete N:M training recipe over ``total_steps`` optimizer steps.

    Construction validates every field and raises :class:`costmodels.ModelError` naming it.
    """

    recipe: str = "mdgf_exp"
    n: int = 1
    m: int = 32
    total_steps: int = 1000
    dense_warmup_frac: float = 0.05
    finetune_frac: float = 0.15
    decay_end_frac: float = 0.7
    decay_final: float = 1e-3
    sdgf_k: int = 16
    mask_update_interval: int = 1
    backward: str = "ste"
    srste_lambda_w: float = 2e-4

    def __post_init__(self) -> None:
        if self.recipe not in RECIPES:
            raise ModelError(f"recipe={self.recipe!r}: expected one of {', '.join(RECIPES)}")
        if self.backward not in BACKWARD_RULES:
            raise ModelError(f"backward={self.backward!r}: expected one of 'ste', 'scaled'")
        if self.m < 1:
            raise ModelError(f"m={self.m} must be a positive group size")
        if not 1 <= self.n <= self.m:
            raise ModelError(f"n={self.n} must be in [1, m={self.m}] (N:M keeps N of every M)")
        if self.total_steps < 1:
            raise ModelError(f"total_steps={self.total_steps} must be >= 1")
        if self.mask_update_interval < 1:
            raise ModelError(f"mask_update_interval={self.mask_update_interval} must be >= 1 step")
        if not 0.0 <= self.dense_warmup_frac < 1.0:
            raise ModelError(f"dense_warmup_frac={self.dense_warmup_frac} must be in [0, 1)")
        if not 0.0 <= self.finetune_frac < 1.0:
            raise ModelError(f"finetune_frac={self.finetune_frac} must be in [0, 1)")
        if self.srste_lambda_w < 0:
            raise ModelError(f"srste_lambda_w={self.srste_lambda_w} must be >= 0")
        if self.recipe in DECAY_RECIPES:
            if self.decay_end_frac <= self.dense_warmup_frac:
                raise ModelError(
                    f"decay_end_frac={self.decay_end_frac} must exceed dense_warmup_frac="
                    f"{self.dense_warmup_frac}: the decay would end before it starts"
                )
            if self.decay_end_frac > 1.0 - self.finetune_frac + 1e-12:
                raise ModelError(
                    f"decay_end_frac={self.decay_end_frac} must not exceed 1 - finetune_frac="
                    f"{1.0 - self.finetune_frac:g}: the decay would run into the fine-tune"
                )
            if self.recipe in MDGF_RECIPES and not 0.0 <= self.decay_final < 1.0:
                raise ModelError(f"decay_final={self.decay_final} must be in [0, 1)")
            if self.recipe == "mdgf_exp" and self.decay_final <= 0.0:
                raise ModelError(
                    f"decay_final={self.decay_final} must be > 0 for mdgf_exp "
                    "(exp(-beta j) never reaches 0)"
                )
        if self.recipe == "sdgf_geometric":
            sdgf_chain(self.recipe, self.n, self.m, self.sdgf_k)

    # -- phase boundaries in steps ----------------------------------------------------------------
    def _step(self, frac: float) -> int:
        return min(self.total_steps, max(0, round(frac * self.total_steps)))

    @property
    def warmup_end(self) -> int:
        return self._step(self.dense_warmup_frac) if self.recipe != "dense" else self.total_steps

    @property
    def decay_end(self) -> int:
        return max(self.warmup_end + 1, self._step(self.decay_end_frac))

    @property
    def finetune_start(self) -> int:
        return self._step(1.0 - self.finetune_frac)

    @property
    def decay_rate(self) -> float:
        """``beta`` per step of the MDGF decay (0 for other recipes)."""
        span = self.decay_end - self.warmup_end
        if self.recipe == "mdgf_linear":
            return (1.0 - self.decay_final) / span
        if self.recipe == "mdgf_exp":
            return math.log(1.0 / self.decay_final) / span
        return 0.0

    def decay_at(self, step: int) -> float:
        """``D`` of the soft mask at ``step`` (MDGF only; 0 once the decay has ended)."""
        if self.recipe not in MDGF_RECIPES or step < self.warmup_end:
            return 1.0 if step < self.warmup_end else 0.0
        if step >= self.decay_end:
            return 0.0
        j = step - self.warmup_end
        if self.recipe == "mdgf_linear":
            return max(1.0 - self.decay_rate * j, 0.0)
        return math.exp(-self.decay_rate * j)

    def segments(self) -> list[Segment]:
        """The phases as step ranges, in order (empty ranges dropped)."""
        t, w = self.total_steps, self.warmup_end
        segs = [Segment("dense_warmup", 0, w, "dense", self.m, self.m)]
        if self.recipe in ("ste", "srste"):
            segs.append(Segment(self.recipe, w, t, "sparse", self.n, self.m))
        elif self.recipe in MDGF_RECIPES:
            e, f = self.decay_end, max(self.finetune_start, self.decay_end)
            segs.append(Segment("decay", w, e, "soft", self.n, self.m))
            segs.append(Segment("sparse", e, f, "sparse", self.n, self.m))
            segs.append(Segment("finetune", f, t, "finetune", self.n, self.m))
        elif self.recipe in SDGF_RECIPES:
            chain = sdgf_chain(self.recipe, self.n, self.m, self.sdgf_k)
            stages, e = chain[:-1], self.decay_end
            bounds = [w + round(i * (e - w) / max(len(stages), 1)) for i in range(len(stages))]
            bounds.append(e)
            for i, (ni, mi) in enumerate(stages):
                segs.append(Segment(f"sdgf_{ni}:{mi}", bounds[i], bounds[i + 1], "sparse", ni, mi))
            if not stages:
                segs.append(Segment("sdgf_target", w, e, "sparse", self.n, self.m))
            f = max(self.finetune_start, e)
            segs.append(Segment("sparse", e, f, "sparse", self.n, self.m))
            segs.append(Segment("finetune", f, t, "finetune", self.n, self.m))
        return [s for s in segs if s.end > s.start]

    def state_at(self, step: int) -> StepState:
        """What the sparse layers do at ``step`` (0-based)."""
        for seg in self.segments():
            if seg.start <= step < seg.end:
                break
        else:
            seg = self.segments()[-1]
        if seg.kind == "dense":
            return StepState("dense", seg.m, seg.m, decay=1.0)
        if seg.kind == "finetune":
            return StepState("finetune", seg.n, seg.m)
        scaled = self.backward == "scaled" and self.recipe in MDGF_RECIPES
        lam = self.srste_lambda_w if self.recipe == "srste" else 0.0
        if seg.kind == "soft":
            return StepState("soft", seg.n, seg.m, self.decay_at(step), scaled, lam)
        return StepState("sparse", seg.n, seg.m, 0.0, scaled, lam)

    def group_sizes(self) -> list[int]:
        """Every group size ``m`` the recipe's masks use (the target last)."""
        return [mi for _, mi in sdgf_chain(self.recipe, self.n, self.m, self.sdgf_k)]
