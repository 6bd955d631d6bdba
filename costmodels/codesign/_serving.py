"""Links from the sparse model and its engine to the serving model.

**Engine -> serving** (:class:`EngineToServing`). The serving accelerator's GEMM-shaped layers
(1x1 convolutions and the classifier; depthwise layers are not GEMMs) run on the VEGETA-like
engine of the ``sparse_gemm`` stage. Two engine stages see the same engine: ``hw`` with the
trained N:M and ``hwd`` with dense weights (``nm_n = nm_m = 4``). Over the shared workload's
GEMMs (:mod:`._workload`)::

    gemm_latency_scale = latency_ms[hw] / latency_ms[hwd]          (dimensionless, <= 1 when
                                                                     the engine accelerates N:M)
    weight_bytes_scale = weights_mb[hw] / weights_mb[hwd]           (stored values + metadata,
                                                                     in the engine's encoding)

so a ratio the engine cannot run gets no speed-up (an S engine runs N:4; 1:8 runs as 1:4 when
the engine promotes patterns, the fastest lossless encoding it has; a D engine runs everything
dense, scale 1), and the bytes are those of the encoding the engine runs, metadata included
(2-bit indices per kept bf16 value for N:4: ``(N/4) (16 + 2) / 16`` of dense). The serving
model applies both scales to its GEMM-shaped layers (every slot but depthwise,
:mod:`costmodels.sushi._fast_tables`): compute time, weight bytes, hence what fits the persistent
buffer, the hit ratio, off-chip traffic and energy. ``gemm_latency_scale`` is relative to the
engine's own dense time: the assumption is that the engine *is* the serving accelerator's GEMM
unit, as fast on dense weights as the accelerator's own array, so only the sparsity speed-up
transfers (not the CPU engine's absolute speed).

**Accuracy transfer** (:class:`AccuracyTransfer`). The training proxy's top-1 under the recipe,
against the dense run of the *same* proxy (``nmd`` stage: same fidelity, seed and data), gives
the accuracy change of the recipe at that N:M::

    acc_delta_pp   = top1[nm] - top1[nmd]                                           (pp)
    served_acc_pct = clip(served_acc_pct[sushi] + acc_delta_pp, 0, 100)              (%)

Transfer assumption: the change in percentage points carries over additively from the proxy to
every served SubNet (the SubNets' own accuracies are measured on OFA-MobileNetV3, a different
architecture). Fidelity cost: additive transfer ignores that larger models lose less at the same
N:M (PGF paper, Table 2 vs the proxy), and the scheduler's accuracy floors see the dense SubNet
accuracies; ``docs/models/codesign.md`` discusses both.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from costmodels._protocol import CostModel, EvalContext, Output
from search_spaces import Float


__all__ = ["AccuracyTransfer", "EngineToServing"]


class EngineToServing(CostModel):
    """The engine's N:M speed-up and compression, as the serving model's GEMM-layer scales."""

    name = "codesign_engine"
    version = "1"
    doc = "link: engine latency and stored bytes at N:M vs dense -> serving GEMM-layer scales"
    inputs = (
        Float("sparse_latency_ms", 0.0, 1e12, default_value=1.0, unit="ms",
              doc="engine GEMM time of the workload at the trained N:M (bind hw.latency_ms)"),
        Float("dense_latency_ms", 1e-12, 1e12, default_value=1.0, unit="ms",
              doc="same engine, dense weights (bind hwd.latency_ms)"),
        Float("sparse_weights_mb", 0.0, 1e12, default_value=1.0, unit="MB",
              doc="stored weights at the N:M, values + metadata (bind hw.weights_mb)"),
        Float("dense_weights_mb", 1e-12, 1e12, default_value=1.0, unit="MB",
              doc="stored dense weights (bind hwd.weights_mb)"),
    )
    outputs = (
        Output("gemm_latency_scale", "ratio", "minimize", "GEMM time at N:M / dense, same engine"),
        Output("weight_bytes_scale", "ratio", "minimize", "GEMM weight bytes at N:M / dense"),
    )

    def evaluate(
        self, batch: Mapping[str, np.ndarray], context: EvalContext | None = None
    ) -> dict[str, np.ndarray]:
        def ratio(num: str, den: str) -> np.ndarray:
            return np.asarray(batch[num], np.float64) / np.asarray(batch[den], np.float64)

        return {
            "gemm_latency_scale": ratio("sparse_latency_ms", "dense_latency_ms"),
            "weight_bytes_scale": ratio("sparse_weights_mb", "dense_weights_mb"),
        }


class AccuracyTransfer(CostModel):
    """The recipe's proxy accuracy change against the dense proxy, added to served accuracy."""

    name = "codesign_accuracy"
    version = "1"
    doc = "link: proxy top-1 change vs the dense proxy -> served SubNet top-1 (additive, pp)"
    inputs = (
        Float("proxy_acc_pct", 0.0, 100.0, default_value=0.0, unit="%",
              doc="proxy top-1 of the recipe (bind nm.top1_acc)"),
        Float("dense_proxy_acc_pct", 0.0, 100.0, default_value=0.0, unit="%",
              doc="proxy top-1 of the dense run of the same proxy (bind nmd.top1_acc)"),
        Float("served_acc_pct", 0.0, 100.0, default_value=0.0, unit="%",
              doc="served top-1 of the dense SubNets (bind sushi.served_acc_pct)"),
    )
    outputs = (
        Output("acc_delta_pp", "pp", "maximize", "proxy top-1 change against the dense proxy"),
        Output("served_acc_pct", "%", "maximize", "served top-1 of the sparse SubNets"),
    )

    def evaluate(
        self, batch: Mapping[str, np.ndarray], context: EvalContext | None = None
    ) -> dict[str, np.ndarray]:
        delta = (np.asarray(batch["proxy_acc_pct"], np.float64)
                 - np.asarray(batch["dense_proxy_acc_pct"], np.float64))
        served = np.clip(np.asarray(batch["served_acc_pct"], np.float64) + delta, 0.0, 100.0)
        return {"acc_delta_pp": delta, "served_acc_pct": served}
