"""Search space of SUSHI serving (``costmodels.sushi``): persistent-buffer size, scheduler period
and window, fill priority, SubNet pool, PE array, clock and bandwidth.

Names are the model's input names (local, un-namespaced). The query stream parameters are
workload, not design: a study pins them (``[space.override]``), or sweeps them for a sensitivity
study. Inputs not listed (energy constants, utilizations, seeds) take the model's defaults.
Periods, windows and pool sizes are a few discrete values on purpose: the model vectorizes over
hardware points that share a pool, a trace and a scheduler period, so a coarse grid on those
keeps sweeps fast.

Every parameter is the model's own declaration (doc, unit, default), narrowed or pinned here.
The space adds no constraints: on-chip memory fit and the MAC budget are the model's violation
outputs (``onchip_mem_violation_mb``, ``mac_budget_violation``), defined once there.
"""

from __future__ import annotations

from typing import Any

from costmodels.sushi import SushiModel
from search_spaces._declared import declared
from search_spaces._params import Param
from search_spaces._space import Space


__all__ = ["space"]


def space() -> Space:
    """The SUSHI serving design space."""

    def p(name: str, narrow: Any = None, *, default: Any = None) -> Param:
        return declared(SushiModel, name, narrow, default=default)

    return Space(
        params=(
            # buffers
            p("pb_mb", {"high": 12.0, "steps": 25}),
            p("act_buf_mb", [0.5, 1.0, 2.0]),
            p("stream_buf_mb", 0.25),
            p("onchip_mem_mb", 8.0),  # between a ZCU104's 4.75 MB and a U50's 28 MB
            # scheduler and cache
            p("policy"),
            p("update_period_q", [10, 50, 200, 1000]),
            p("history_window", [50, 200, 1000]),
            p("fill_priority"),
            # SubNet pool
            p("pool_size", [12, 24, 48]),
            # accelerator
            p("pe_k", [8, 16, 32]),
            p("pe_c", [3, 9, 16]),
            p("pe_rs", [1, 3, 9]),
            p("mac_budget", 2592),  # 2x the ZCU104 design
            p("clock_mhz", {"low": 100.0, "high": 300.0, "steps": 5}),
            p("dram_bw_gbps", [1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0]),
            # the query stream: workload, not design; studies pin it (or sweep it for a
            # sensitivity study) with [space.override]
            p("stream_kind", ["markov", "ar1", "iid"]),
            p("stream_dwell_queries", [5.0, 50.0, 200.0, 2000.0]),
            p("latency_query_share", [0.0, 0.5, 1.0]),
            p("n_queries", [1000, 2000, 10_000]),
        ),
        name="sushi",
    )
