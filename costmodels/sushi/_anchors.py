"""SUSHI's published headline numbers and the regime in which this model reproduces them.

Published (arXiv 2306.17266 / MLSys'23 proceedings abstract; reference notes section 5), each
against serving the same SubNets without SubGraph Stationary (``no_pb``):

* up to **25 %** lower latency;
* **+0.98 %** served accuracy (read here as percentage points of top-1);
* up to **78.7 %** lower off-chip energy.

The paper's SubNet set, PB size, bandwidth and traces are not known (notes section 6, items 1-5),
so the regime below was *found by a sweep* of bandwidth and PB size, not taken from the paper.
By the notes' consistency relations (energy saving ~ hit ratio h, latency saving ~ h * rho with
rho the weight-fetch share of latency), choosing the bandwidth (rho ~ 0.3) and the PB (h ~ 0.8)
places the latency and energy savings near 25 % and 79 % almost by construction: those two
anchors are a *consistency check*, not an independent reproduction. The accuracy gain is less
constrained: it follows from the pool's accuracy-vs-latency slope and the stream's SLO spread,
so landing within 10 % of +0.98 pp at the same point is a modest check, but it too moves with
the regime chosen for the other two. All three are therefore reported as ``kind =
"consistency"`` records.

The accelerator latency model itself is checked against *measured* numbers by
:mod:`costmodels.sushi._feather`: the per-SubNet 3x3-conv latency sums of six OFA-ResNet50
SubNets on the FEATHER ZCU104 design (SushiAccel's HLS kernel), each predicted with constants
fitted on the other five SubNets (``kind = "held_out"``).

Headline regime (:data:`HEADLINE_REGIME`; every other input at its default):

* OFA-MBv3 w1.0, Pareto pool of 24 SubNets (int8), resolutions 128-224;
* SushiAccel-like 16 x 9 x 9 PE array (1296 MAC/cycle, the ZCU104 design's shape) at 200 MHz,
  u = 0.88, 10 us per layer, serialized weight fetch, **3.0 GB/s** effective bandwidth;
* **4.5 MB** persistent buffer, 1 MB activation buffer, 0.25 MB streaming buffer (5.75 MB of
  on-chip RAM: more than a ZCU104's 4.75 MB; an Alveo U50-class device has 28 MB);
* Markov stream, 4 demand regimes, mean dwell 200 queries, 5 % jitter, 10,000 queries;
  Q = 50, window 200, blocking switches;
* latency and energy anchors on the strict-accuracy stream (``latency_query_share = 0``), the
  accuracy anchor on the strict-latency stream (``latency_query_share = 1``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from costmodels._protocol import Anchor
from costmodels.sushi._feather import feather_anchors


if TYPE_CHECKING:
    from costmodels.sushi._model import SushiModel

__all__ = ["HEADLINE_REGIME", "PUBLISHED", "headline_metrics", "sushi_anchors"]

SOURCE = "SUSHI, MLSys 2023 (arXiv 2306.17266), abstract"
PUBLISHED = {
    "latency_saving_pct": 25.0,
    "served_acc_gain_pp": 0.98,
    "offchip_energy_saving_pct": 78.7,
}
TOLERANCE = 0.10

HEADLINE_REGIME: dict[str, Any] = {
    "supernet": "ofa_mbv3_w1.0",
    "pool_kind": "pareto",
    "pool_size": 24,
    "pe_k": 16,
    "pe_c": 9,
    "pe_rs": 9,
    "clock_mhz": 200.0,
    "util_dense": 0.88,
    "util_depthwise": 0.88,
    "dram_bw_gbps": 3.0,
    "layer_overhead_us": 10.0,
    "overlap": "serial",
    "pb_mb": 4.5,
    "act_buf_mb": 1.0,
    "policy": "sushi",
    "stream_kind": "markov",
    "stream_dwell_queries": 200.0,
    "update_period_q": 50,
    "history_window": 200,
    "n_queries": 10_000,
}


def headline_metrics(model: SushiModel, **overrides: Any) -> dict[str, float]:
    """The three headline metrics of ``model`` in the headline regime (plus ``overrides``)."""
    point = {**HEADLINE_REGIME, **overrides}
    acc_stream = model.evaluate(model.batch(1, latency_query_share=0.0, **point))
    lat_stream = model.evaluate(model.batch(1, latency_query_share=1.0, **point))
    return {
        "latency_saving_pct": float(acc_stream["latency_saving_pct"][0]),
        "offchip_energy_saving_pct": float(acc_stream["offchip_energy_saving_pct"][0]),
        "served_acc_gain_pp": float(lat_stream["served_acc_gain_pp"][0]),
        "weight_fetch_share_pct": float(acc_stream["weight_fetch_share_pct"][0]),
        "hit_ratio_pct": float(acc_stream["hit_ratio_pct"][0]),
    }


def sushi_anchors(model: SushiModel) -> list[Anchor]:
    """The headline numbers (consistency checks, computed live in the headline regime), then
    the held-out FEATHER ZCU104 latency records."""
    got = headline_metrics(model)
    calibrated = (
        "strict-accuracy stream; regime chosen so that rho ~ 0.3 and h ~ 0.8, "
        "so the saving follows from the model's equations"
    )
    notes = {
        "latency_saving_pct": calibrated,
        "offchip_energy_saving_pct": calibrated,
        "served_acc_gain_pp": (
            "strict-latency stream in the same chosen regime; read as percentage points"
        ),
    }
    names = {
        "latency_saving_pct": "latency reduction vs no SubGraph Stationary (%)",
        "served_acc_gain_pp": "served accuracy gain vs no SubGraph Stationary (pp)",
        "offchip_energy_saving_pct": "off-chip energy reduction vs no SubGraph Stationary (%)",
    }
    return [
        Anchor(
            model="sushi",
            anchor=names[k],
            source=SOURCE,
            published=v,
            modeled=float(np.round(got[k], 6)),
            tolerance=TOLERANCE,
            note=notes[k],
            kind="consistency",
        )
        for k, v in PUBLISHED.items()
    ] + feather_anchors()
