"""Co-design links: the pipeline edges that make the four layers one study.

* :class:`AccuracyTransfer`: proxy accuracy change vs the dense proxy -> served accuracy;
* :class:`EngineToServing`: the engine's N:M speed-up and compressed bytes -> the serving
  model's GEMM-layer latency and weight-byte scales;
* :class:`TrainingOnCluster`: recipe phases x the accelerators' sparse format -> time to train,
  energy, cost and memory on the cluster;
* :data:`VIT_B16`: the one workload every model describes.

Equations, units and sources are in each module's docstring and in ``docs/models/codesign.md``.
"""

from costmodels.codesign._serving import AccuracyTransfer, EngineToServing
from costmodels.codesign._training import TrainingOnCluster, accelerated_fraction
from costmodels.codesign._workload import VIT_B16, SharedWorkload, cluster_workload


__all__ = [
    "VIT_B16",
    "AccuracyTransfer",
    "EngineToServing",
    "SharedWorkload",
    "TrainingOnCluster",
    "accelerated_fraction",
    "cluster_workload",
]
