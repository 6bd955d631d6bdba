"""Link from the N:M training recipe to the training cluster (:class:`TrainingOnCluster`).

The ``cluster`` stage times one *dense* training iteration of the shared workload
(:mod:`._workload`): forward ``t_f``, backward ``t_b``, recomputation ``t_r`` and the rest
(communication, bubble, optimizer). A recipe changes the compute in its phases (reference notes
``nm_sparsity.md`` §4, the accounting of :mod:`costmodels.nm_training._accounting`):

* dense warm-up, the MDGF decay (weights scaled by ``D > 0``, still dense math) and every phase
  whose pattern the accelerators cannot run: dense speed;
* a binary N:M phase (STE, SR-STE, an SDGF stage, MDGF's sparse phase and the fine-tune) whose
  pattern ``n_i:m_i`` fits the accelerators' sparse format ``N_hw:M_hw`` (``m_i`` a multiple of
  ``M_hw`` and ``n_i <= N_hw``, so every aligned group of ``M_hw`` holds at most ``N_hw`` kept
  weights; 2:4 on A100/H100 sparse tensor cores, NVIDIA A100 whitepaper 2020): the
  forward and input-gradient GEMMs of the sparsified layers run ``S`` times faster (2x), the
  weight-gradient GEMM stays dense (gradients reach every weight).

With ``s`` the sparsified layers' share of the workload's GEMM FLOPs and ``a`` the fraction of
the schedule's steps in accelerated phases::

    iter'  = iter - a (1 - 1/S) s (t_f + t_r + t_b / 2)                      (s per iteration)
    days'  = days * iter' / iter,   E' = E * iter' / iter                    (days, MWh)
    cost   = capex * days' / (365 * lifetime_years) + E' * 1000 * usd_per_kwh (USD)

Energy scales with time at the cluster's modelled power (a sparse GEMM is not assumed to draw
less). Memory: every recipe keeps dense weights, gradients and Adam state (the straight-through
estimators update pruned weights), plus the mask: one bit per weight of the sparsified layers
(``p`` their share of the parameters, 16-bit weights)::

    mem' = mem_total + mem_weights * p / 16,   mem_over' = mem_over + mem_weights * p / 16  (GB)

so N:M training never frees accelerator memory: it cannot make a parallelism fit that did not.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from costmodels._protocol import CostModel, EvalContext, ModelError, Output
from costmodels.codesign._workload import VIT_B16
from costmodels.nm_training._accounting import (
    LAYER_GROUPS,
    ArchSpec,
    layer_flops,
    layer_params,
    sparse_split,
)
from costmodels.nm_training._recipes import BACKWARD_RULES, RECIPES, Recipe
from search_spaces import Categorical, Float, Int


__all__ = ["TrainingOnCluster", "accelerated_fraction"]

_ARCH = ArchSpec("vit_b16", VIT_B16.tokens, VIT_B16.hidden, VIT_B16.ffn, VIT_B16.layers,
                 VIT_B16.hidden, VIT_B16.classes, False, VIT_B16.train_samples)
_RECIPE_FIELDS = ("recipe", "n", "m", "dense_warmup_frac", "decay_end_frac", "finetune_frac",
                  "sdgf_k", "backward")
# Steps of the schedule the phase fractions are taken over (fractions are what transfer).
_STEPS = 100_000


def accelerated_fraction(
    batch: Mapping[str, np.ndarray], hw_n: int, hw_m: int
) -> np.ndarray:
    """Fraction of a recipe's steps in binary N:M phases the ``hw_n:hw_m`` hardware runs."""
    cols = [np.asarray(batch[k]) for k in _RECIPE_FIELDS]
    n = len(cols[0])
    if n == 0:
        return np.zeros(0)
    # One schedule per distinct recipe row (a study has a handful; a sweep shares one): the
    # rows are coded column by column, and only the distinct ones reach Python.
    codes = np.zeros(n, dtype=np.int64)
    for col in cols:
        _, inv = np.unique(col, return_inverse=True)
        codes = codes * (int(inv.max()) + 1) + inv.reshape(-1)
    _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    table = np.asarray([
        _fraction({k: c[i].item() for k, c in zip(_RECIPE_FIELDS, cols)}, hw_n, hw_m)
        for i in first
    ], dtype=np.float64)
    return table[inverse.reshape(-1)]


def _fraction(p: Mapping[str, object], hw_n: int, hw_m: int) -> float:
    if p["recipe"] == "dense" or int(p["n"]) >= int(p["m"]):  # type: ignore[call-overload]
        return 0.0
    recipe = Recipe(
        recipe=str(p["recipe"]), n=int(p["n"]), m=int(p["m"]),  # type: ignore[call-overload]
        total_steps=_STEPS,
        dense_warmup_frac=float(p["dense_warmup_frac"]),  # type: ignore[arg-type]
        finetune_frac=float(p["finetune_frac"]),  # type: ignore[arg-type]
        decay_end_frac=float(p["decay_end_frac"]),  # type: ignore[arg-type]
        sdgf_k=int(p["sdgf_k"]),  # type: ignore[call-overload]
        backward=str(p["backward"]),
    )
    steps = 0
    for seg in recipe.segments():
        if seg.kind in ("sparse", "finetune") and seg.m % hw_m == 0 and seg.n <= hw_n:
            steps += seg.end - seg.start
    return steps / _STEPS


class TrainingOnCluster(CostModel):
    """A recipe's phases and the accelerators' sparse format -> time, energy, cost, memory."""

    name = "codesign_training"
    version = "1"
    doc = "link: recipe phases x accelerator sparse speed-up (2:4) -> cluster time, cost, memory"
    inputs = (
        Categorical("recipe", RECIPES, default_value="dense", doc="training recipe"),
        Int("n", 1, 128, default_value=1, doc="kept weights per group (N of N:M)"),
        Categorical("m", (4, 8, 16, 32, 64, 128), default_value=4, doc="group size (M of N:M)"),
        Categorical("sparse_layers", tuple(LAYER_GROUPS), default_value="ff",
                    doc="sparsified projections"),
        Float("dense_warmup_frac", 0.0, 0.5, default_value=0.05, doc="dense warm-up fraction"),
        Float("decay_end_frac", 0.01, 1.0, default_value=0.7, doc="decay end fraction"),
        Float("finetune_frac", 0.0, 0.5, default_value=0.15, doc="fine-tune fraction"),
        Categorical("sdgf_k", (2, 4, 8, 16, 32), default_value=16, doc="SDGF start multiple"),
        Categorical("backward", BACKWARD_RULES, default_value="ste", doc="MDGF backward rule"),
        Float("iter_time_s", 0.0, 1e9, default_value=1.0, unit="s",
              doc="dense iteration time (bind cl.iter_time_s)"),
        Float("time_fwd_s", 0.0, 1e9, default_value=0.0, unit="s", doc="bind cl.time_fwd_s"),
        Float("time_bwd_s", 0.0, 1e9, default_value=0.0, unit="s", doc="bind cl.time_bwd_s"),
        Float("time_recompute_s", 0.0, 1e9, default_value=0.0, unit="s",
              doc="bind cl.time_recompute_s"),
        Float("time_to_train_days", 0.0, 1e12, default_value=0.0, unit="days",
              doc="dense time to train (bind cl.time_to_train_days)"),
        Float("energy_mwh", 0.0, 1e12, default_value=0.0, unit="MWh", doc="bind cl.energy_mwh"),
        Float("capex_usd", 0.0, 1e15, default_value=0.0, unit="USD", doc="bind cl.capex_usd"),
        Float("mem_weights_gb", 0.0, 1e9, default_value=0.0, unit="GB",
              doc="bind cl.mem_weights_gb"),
        Float("mem_total_gb", 0.0, 1e9, default_value=0.0, unit="GB", doc="bind cl.mem_total_gb"),
        Float("mem_over_gb", -1e9, 1e9, default_value=-1.0, unit="GB", doc="bind cl.mem_over_gb"),
    )
    outputs = (
        Output("accelerated_frac", "", "maximize", "steps in phases the accelerators speed up"),
        Output("iter_time_s", "s", "minimize", "mean iteration time over the schedule"),
        Output("time_to_train_days", "days", "minimize", "time to train the workload"),
        Output("energy_mwh", "MWh", "minimize", "facility energy to train"),
        Output("cost_usd", "USD", "minimize", "amortized capex plus energy of the training run"),
        Output("mem_total_gb", "GB", "minimize", "HBM per accelerator incl. the N:M mask"),
        Output("mem_over_gb", "GB", None, "GB over capacity incl. the mask; <= 0 fits"),
    )

    def __init__(
        self,
        accelerator_pattern: str = "2:4",
        sparse_speedup: float = 2.0,
        lifetime_years: float = 4.0,
        usd_per_kwh: float = 0.10,
    ) -> None:
        """Options.

        Args:
            accelerator_pattern: ``"N:M"`` the accelerators' sparse GEMMs run (A100/H100: 2:4);
                ``"none"`` for accelerators without sparse math.
            sparse_speedup: Math speed-up of a sparse GEMM in that format (2:4 on A100: 2x).
            lifetime_years: Years the cluster's capex is amortized over (assumed: 4).
            usd_per_kwh: Electricity price (assumed: 0.10 USD/kWh).
        """
        if accelerator_pattern == "none":
            self.hw_n, self.hw_m = 0, 1
        else:
            try:
                hw_n, hw_m = (int(x) for x in accelerator_pattern.split(":"))
            except ValueError:
                raise ModelError(f"accelerator_pattern={accelerator_pattern!r}: expected 'N:M' "
                                 "such as '2:4', or 'none'") from None
            if not 1 <= hw_n < hw_m:
                raise ModelError(f"accelerator_pattern={accelerator_pattern!r}: expected N < M")
            self.hw_n, self.hw_m = hw_n, hw_m
        if sparse_speedup < 1.0:
            raise ModelError(f"sparse_speedup={sparse_speedup}: expected >= 1")
        if lifetime_years <= 0 or usd_per_kwh < 0:
            raise ModelError("lifetime_years must be > 0 and usd_per_kwh >= 0")
        self.speedup = float(sparse_speedup)
        self.lifetime_years = float(lifetime_years)
        self.usd_per_kwh = float(usd_per_kwh)

    def evaluate(
        self, batch: Mapping[str, np.ndarray], context: EvalContext | None = None
    ) -> dict[str, np.ndarray]:
        def col(k: str) -> np.ndarray:
            return np.asarray(batch[k], np.float64)

        layers = np.asarray(batch["sparse_layers"])
        flop_share, param_share = np.zeros(len(layers)), np.zeros(len(layers))
        flops, params = layer_flops(_ARCH), layer_params(_ARCH)
        for sl in np.unique(layers):
            f, o = sparse_split(flops, str(sl))
            pf, po = sparse_split(params, str(sl))
            flop_share[layers == sl] = f / (f + o)
            param_share[layers == sl] = pf / (pf + po)
        sparse = (np.asarray(batch["recipe"]) != "dense") & (col("n") < col("m"))
        param_share = np.where(sparse, param_share, 0.0)
        a = accelerated_fraction(batch, self.hw_n, self.hw_m)
        saved = a * (1.0 - 1.0 / self.speedup) * flop_share * (
            col("time_fwd_s") + col("time_recompute_s") + col("time_bwd_s") / 2.0)
        dense_iter = col("iter_time_s")
        scale = np.where(dense_iter > 0, (dense_iter - saved) / np.where(dense_iter > 0,
                                                                          dense_iter, 1.0), 1.0)
        days = col("time_to_train_days") * scale
        energy = col("energy_mwh") * scale
        mask_gb = col("mem_weights_gb") * param_share / 16.0
        return {
            "accelerated_frac": a,
            "iter_time_s": dense_iter - saved,
            "time_to_train_days": days,
            "energy_mwh": energy,
            "cost_usd": col("capex_usd") * days / (365.0 * self.lifetime_years)
            + energy * 1000.0 * self.usd_per_kwh,
            "mem_total_gb": col("mem_total_gb") + mask_gb,
            "mem_over_gb": col("mem_over_gb") + mask_gb,
        }
