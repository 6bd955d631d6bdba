"""The roofline of a PE array running one kernel (Williams, Waterman & Patterson, "Roofline: an
insightful visual performance model for multicore architectures", CACM 52(4), 2009, eq. 1)::

    peak      = 2 * pes * clock_ghz                  [GFLOP/s]  (one MAC = 2 FLOP per PE per cycle)
    roof      = bw_gbps * intensity                  [GFLOP/s]
    gflops    = min(peak, roof)
    area_mm2  = pes * PE_AREA_MM2 + bw_gbps * PHY_MM2_PER_GBPS
    power_w   = pes * clock_ghz * PE_W_PER_GHZ + bw_gbps * PHY_W_PER_GBPS
    power_over_w = power_w - power_budget_w          (constraint, <= 0 feasible)

The area and power constants are illustrative round numbers for a 7 nm-class design, not fitted
to a product; the example shows the protocol, not a calibrated model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from costmodels import CostModel, Output
from search_spaces import Categorical, Float, Int


__all__ = ["Roofline"]

PE_AREA_MM2 = 0.01  # one FP16 MAC with its registers
PHY_MM2_PER_GBPS = 0.02  # memory PHY area per GB/s
PE_W_PER_GHZ = 0.002  # dynamic power of one PE per GHz
PHY_W_PER_GBPS = 0.01  # PHY power per GB/s


class Roofline(CostModel):
    """Throughput, area and power of a PE array on one kernel; vectorized over the batch."""

    name = "roofline"
    version = "1"  # part of the disk-cache key: bump it when results change
    doc = "roofline of a PE array: min(compute peak, bandwidth x intensity), area and power"
    inputs = (
        Int("pes", 16, 4096, log=True, default_value=256, doc="processing elements"),
        Categorical("clock_ghz", (0.5, 1.0, 1.5, 2.0), default_value=1.0, unit="GHz",
                    doc="clock frequency"),
        Float("bw_gbps", 8.0, 512.0, log=True, default_value=64.0, unit="GB/s",
              doc="DRAM bandwidth"),
        Float("intensity", 0.25, 128.0, log=True, default_value=8.0, unit="FLOP/B",
              doc="arithmetic intensity of the kernel"),
        Float("power_budget_w", 1.0, 100.0, default_value=10.0, unit="W",
              doc="power the design may draw"),
    )
    outputs = (
        Output("gflops", "GFLOP/s", "maximize", "attainable throughput"),
        Output("area_mm2", "mm^2", "minimize", "PE array and memory PHY area"),
        Output("power_w", "W", "minimize", "PE array and memory PHY power"),
        Output("power_over_w", "W", None, "power above the budget (<= 0 feasible)"),
    )

    def evaluate(
        self, batch: Mapping[str, np.ndarray], context: Any = None
    ) -> dict[str, np.ndarray]:
        pes = np.asarray(batch["pes"], dtype=np.float64)
        clock = np.asarray(batch["clock_ghz"], dtype=np.float64)
        bw = np.asarray(batch["bw_gbps"], dtype=np.float64)
        intensity = np.asarray(batch["intensity"], dtype=np.float64)
        power = pes * clock * PE_W_PER_GHZ + bw * PHY_W_PER_GBPS
        return {
            "gflops": np.minimum(2.0 * pes * clock, bw * intensity),
            "area_mm2": pes * PE_AREA_MM2 + bw * PHY_MM2_PER_GBPS,
            "power_w": power,
            "power_over_w": power - np.asarray(batch["power_budget_w"], dtype=np.float64),
        }

    def breakdown(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Which roof bounds the point: one row, for the dashboards."""
        peak = 2.0 * params["pes"] * params["clock_ghz"]
        roof = params["bw_gbps"] * params["intensity"]
        return [{"bound": "compute" if peak <= roof else "memory",
                 "utilization": min(peak, roof) / peak}]

    def native_config(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The schema a hardware team would write: array, memory, kernel."""
        return {"array": {"pes": params["pes"], "clock_ghz": params["clock_ghz"],
                          "power_budget_w": params["power_budget_w"]},
                "memory": {"bw_gbps": params["bw_gbps"]},
                "kernel": {"intensity": params["intensity"]}}

    def from_native(self, config: Mapping[str, Any]) -> dict[str, Any]:
        flat: dict[str, Any] = {}
        for section in ("array", "memory", "kernel"):
            flat.update(config.get(section, {}))
        return flat
