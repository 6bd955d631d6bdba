"""Search space of SUSHI serving (``costmodels.sushi``): persistent-buffer size, scheduler period
and window, fill priority, SubNet pool, PE array, clock and bandwidth.

Names are the model's input names (local, un-namespaced). The query stream parameters are
workload, not design: a study pins them (``[space.override]``), or sweeps them for a sensitivity
study. Inputs not listed (energy constants, utilizations, seeds) take the model's defaults.
Periods, windows and pool sizes are a few discrete values on purpose: the model vectorizes over
hardware points that share a pool, a trace and a scheduler period, so a coarse grid on those
keeps sweeps fast.

Constraints (``<= 0`` feasible), the same expressions the model reports as violations:

* ``onchip_mem``: ``pb_mb + act_buf_mb + stream_buf_mb - onchip_mem_mb`` (MB);
* ``mac_budget``: ``pe_k * pe_c * pe_rs - mac_budget`` (MACs per cycle).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from search_spaces._params import Categorical, Fixed, Float
from search_spaces._space import Constraint, Space


__all__ = ["space"]


def _onchip_violation(b: Mapping[str, np.ndarray]) -> np.ndarray:
    return b["pb_mb"] + b["act_buf_mb"] + b["stream_buf_mb"] - b["onchip_mem_mb"]


def _mac_violation(b: Mapping[str, np.ndarray]) -> np.ndarray:
    return (b["pe_k"] * b["pe_c"] * b["pe_rs"] - b["mac_budget"]).astype(np.float64)


def space() -> Space:
    """The SUSHI serving design space."""
    return Space(
        params=(
            # buffers
            Float(
                "pb_mb",
                0.0,
                12.0,
                steps=25,
                unit="MB",
                default_value=4.5,
                doc="persistent buffer holding the cached SubGraph",
            ),
            Categorical(
                "act_buf_mb",
                (0.5, 1.0, 2.0),
                default_value=1.0,
                unit="MB",
                doc="activation buffer",
            ),
            Fixed("stream_buf_mb", 0.25, unit="MB", doc="weight streaming buffer"),
            Fixed(
                "onchip_mem_mb",
                8.0,
                unit="MB",
                doc="on-chip RAM budget (between a ZCU104's 4.75 and a U50's 28)",
            ),
            # scheduler and cache
            Categorical(
                "policy",
                ("sushi", "static_pb", "cache_oblivious", "no_pb"),
                default_value="sushi",
                doc="serving policy",
            ),
            Categorical(
                "update_period_q",
                (10, 50, 200, 1000),
                default_value=50,
                unit="queries",
                doc="queries between PB decisions",
            ),
            Categorical(
                "history_window",
                (50, 200, 1000),
                default_value=200,
                unit="queries",
                doc="queries the PB decision looks back on",
            ),
            Categorical(
                "fill_priority",
                ("network_order", "reverse", "bytes_per_mac"),
                default_value="bytes_per_mac",
                doc="PB fill order",
            ),
            # SubNet pool
            Categorical(
                "pool_size",
                (12, 24, 48),
                default_value=24,
                doc="Pareto SubNets the server chooses from",
            ),
            # accelerator
            Categorical("pe_k", (8, 16, 32), default_value=16, doc="PE output channels"),
            Categorical("pe_c", (3, 9, 16), default_value=9, doc="PE input channels"),
            Categorical("pe_rs", (1, 3, 9), default_value=9, doc="PE kernel taps"),
            Fixed("mac_budget", 2592, unit="MAC/cycle", doc="MAC budget (2x the ZCU104 design)"),
            Float(
                "clock_mhz",
                100.0,
                300.0,
                steps=5,
                unit="MHz",
                default_value=200.0,
                doc="accelerator clock",
            ),
            Categorical(
                "dram_bw_gbps",
                (1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0),
                default_value=3.0,
                unit="GB/s",
                doc="effective off-chip bandwidth (log-spaced grid)",
            ),
            # the query stream: workload, not design; studies pin it (or sweep it for a
            # sensitivity study) with [space.override]
            Categorical(
                "stream_kind",
                ("markov", "ar1", "iid"),
                default_value="markov",
                doc="demand process",
            ),
            Categorical(
                "stream_dwell_queries",
                (5.0, 50.0, 200.0, 2000.0),
                default_value=200.0,
                unit="queries",
                doc="mean regime dwell (Markov)",
            ),
            Categorical(
                "latency_query_share",
                (0.0, 0.5, 1.0),
                default_value=0.5,
                doc="share of strict-latency queries",
            ),
            Categorical(
                "n_queries",
                (1000, 2000, 10_000),
                default_value=10_000,
                unit="queries",
                doc="trace length",
            ),
        ),
        constraints=(
            Constraint(
                "onchip_mem",
                _onchip_violation,
                ("pb_mb", "act_buf_mb", "stream_buf_mb", "onchip_mem_mb"),
                "PB + activation + stream buffers fit in on-chip memory",
            ),
            Constraint(
                "mac_budget",
                _mac_violation,
                ("pe_k", "pe_c", "pe_rs", "mac_budget"),
                "PE array within the MAC budget",
            ),
        ),
        name="sushi",
        doc="SUSHI serving: PB size, scheduler, SubNet pool, PE array, clock, bandwidth",
    )
