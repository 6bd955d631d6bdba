"""SUSHI serving (MLSys 2023): weight-shared SuperNet SubNets served with SubGraph Stationary.

The model (registry name ``"sushi"``) answers *how large a persistent buffer, which SubNet
policy, for this query stream?*::

    from costmodels import get_model
    model = get_model("sushi")
    metrics = model.evaluate(model.batch(pb_mb=[0.0, 2.0, 4.0]))

Modules, one job each: ``_supernet`` (OFA-MBv3 w1.0/w1.2 and OFA-ResNet50 per-layer tables,
sampling, weight nesting), ``_accuracy`` (fits to published and measured accuracies),
``_pool`` (Pareto SubNet pools), ``_accelerator`` (SushiAccel-like latency/energy tables),
``_cache`` (SubGraph Stationary fill, hits, switch cost), ``_scheduler`` (SushiSched-like policy
and baselines), ``_fast_tables`` and ``_fast_scheduler`` (the same tables and decisions with
shared work done once: the default path), ``_streams`` (query streams and trace files),
``_anchors`` (published numbers), ``_model`` (the :class:`SushiModel`). Equations and
sources: ``docs/models/sushi.md``.
"""

from __future__ import annotations

from costmodels.sushi._accuracy import AccuracyModel, fit_report
from costmodels.sushi._model import SushiModel
from costmodels.sushi._pool import SubNetPool, build_pool, pareto_mask
from costmodels.sushi._streams import StreamSpec, Trace, TraceError, load_trace, save_trace
from costmodels.sushi._streams import generate as generate_trace
from costmodels.sushi._supernet import (
    SUPERNETS,
    SubNetConfigs,
    common_subgraph,
    get_supernet,
    shared_params,
)


__all__ = [
    "SUPERNETS",
    "AccuracyModel",
    "StreamSpec",
    "SubNetConfigs",
    "SubNetPool",
    "SushiModel",
    "Trace",
    "TraceError",
    "build_pool",
    "common_subgraph",
    "fit_report",
    "generate_trace",
    "get_supernet",
    "load_trace",
    "pareto_mask",
    "save_trace",
    "shared_params",
]
