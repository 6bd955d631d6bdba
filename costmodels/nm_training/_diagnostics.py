"""Mechanism diagnostics of the sparse layers ([paper] §4 Fig. 3; reference notes §5, §8.6).

* ``grad_abs_var``: variance of ``|dL/dW|`` over every weight of the sparse layers (Fig. 3b);
* ``adam_v_var``: variance of Adam's second-moment estimate ``v_t`` (``exp_avg_sq``) over the
  same weights (Fig. 3a);
* ``mask_flip_rate``: fraction of mask entries that changed at a mask recomputation, averaged
  over the recomputations (the "sparse architecture divergence" of the official code's
  ``Update_model_stats``; the flip rate of arXiv 2404.01847).

Each is sampled every few steps; :class:`DiagnosticsLog` keeps the samples and summarises them as
the mean over the whole run and over its first quarter.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from costmodels.nm_training._sparse_linear import NMController


__all__ = ["DiagnosticsLog", "sample"]


def sample(
    weights: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer, controller: NMController
) -> tuple[float, float, float]:
    """``(var |grad|, var v_t, mean mask flip fraction)`` of the sparse layers now."""
    grads = [w.grad.detach().abs().ravel() for w in weights.values() if w.grad is not None]
    g_var = float(torch.cat(grads).var()) if grads else float("nan")
    vs = [
        optimizer.state[w]["exp_avg_sq"].ravel()
        for w in weights.values()
        if w in optimizer.state and "exp_avg_sq" in optimizer.state[w]
    ]
    v_var = float(torch.cat(vs).var()) if vs else float("nan")
    flips = [layer.flips for layer in controller.layers.values()]
    return g_var, v_var, float(np.mean(flips)) if flips else 0.0


@dataclass
class DiagnosticsLog:
    """Samples of the diagnostics over a run."""

    steps: list[int] = field(default_factory=list)
    grad_abs_var: list[float] = field(default_factory=list)
    adam_v_var: list[float] = field(default_factory=list)
    mask_flip: list[float] = field(default_factory=list)

    def add(self, step: int, values: tuple[float, float, float]) -> None:
        self.steps.append(step)
        self.grad_abs_var.append(values[0])
        self.adam_v_var.append(values[1])
        self.mask_flip.append(values[2])

    def summary(self, total_steps: int) -> dict[str, float]:
        """Means over the run and over its first quarter (where [paper] Fig. 3b differs most)."""
        if not self.steps:
            nan = float("nan")
            return {
                "grad_abs_var": nan,
                "grad_abs_var_q1": nan,
                "adam_v_var": nan,
                "mask_flip_rate": nan,
            }
        steps = np.asarray(self.steps)
        q1 = steps < total_steps / 4
        g = np.asarray(self.grad_abs_var)
        return {
            "grad_abs_var": float(np.nanmean(g)),
            "grad_abs_var_q1": float(np.nanmean(g[q1])) if q1.any() else float("nan"),
            "adam_v_var": float(np.nanmean(self.adam_v_var)),
            "mask_flip_rate": float(np.mean(self.mask_flip)),
        }
