"""``SparseGemmModel``: VEGETA-like sparse tile-GEMM engines on a set of DNN layers.

Equations are in :mod:`costmodels.sparse_gemm._timing`, constants with their sources in
:mod:`costmodels.sparse_gemm._constants`, the derivation and validation in
``docs/models/sparse_gemm.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from costmodels._protocol import Anchor, CostModel, EvalContext, ModelError, Output
from costmodels.sparse_gemm import _constants as k
from costmodels.sparse_gemm._rowwise import expected_rowwise_n
from costmodels.sparse_gemm._rowwise_measured import RowwiseProfile, load_matrices
from costmodels.sparse_gemm._timing import (
    BOUNDS,
    ENCODING_NAMES,
    KIND_NAMES,
    RASA_SM_AREA,
    Pattern,
    area_proxy,
    dedupe_rows,
    layer_pattern,
    time_layers,
)
from costmodels.sparse_gemm._workloads import Workload, load_workload
from search_spaces import Categorical, Float, Int


__all__ = ["SparseGemmModel"]

# Inputs the RASA-SM baseline shares with the design point (the core around the engine).
_CORE_INPUTS = (
    "load_ports",
    "load_port_bytes",
    "loop_order",
    "l2_bytes_per_cycle",
    "l2_kib",
    "dram_gbps",
    "clock_ghz",
)
_AGGREGATES = ("total", "geomean")


class SparseGemmModel(CostModel):
    name = "sparse_gemm"
    version = "1"
    doc = (
        "VEGETA (HPCA'23) sparse/dense tile-GEMM engines in a CPU core vs RASA-SM: analytical "
        "latency, bounds, traffic, energy and area proxies over DNN GEMM layers."
    )
    inputs = (
        Categorical(
            "engine",
            ("vegeta", "rasa_sm"),
            default_value="vegeta",
            doc="matrix engine: VEGETA-{D,S}-alpha-beta or the RASA-SM baseline",
        ),
        Categorical(
            "alpha",
            (1, 2, 4, 8, 16),
            default_value=16,
            doc="PUs per PE sharing one broadcast B input (VEGETA only)",
        ),
        Categorical(
            "beta",
            (1, 2, 4),
            default_value=2,
            doc="MACs per PU reduced by an adder tree (VEGETA only)",
        ),
        Categorical(
            "sparse_capable",
            (True, False),
            default_value=True,
            doc="S engine (N:4 mux + metadata) or D engine (dense only)",
        ),
        Categorical(
            "tile_regs", (8, 16, 32), default_value=8, doc="1 KiB tile registers (AMX/VEGETA: 8)"
        ),
        Int("load_ports", 1, 4, default_value=2, doc="tile-load uops per cycle"),
        Categorical(
            "load_port_bytes",
            (32, 64, 128),
            default_value=128,
            unit="B",
            doc="bytes per tile-load uop (fork: mem_read_size 128 B)",
        ),
        Float("clock_ghz", 1.0, 4.0, default_value=2.0, unit="GHz", doc="core and engine clock"),
        Categorical(
            "blocking",
            ("auto", "manual"),
            default_value="auto",
            doc="register blocking chosen per pattern (auto) or given by b_m, b_n",
        ),
        Int("b_m", 1, 8, default_value=2, doc="A tiles held in registers (manual blocking)"),
        Int("b_n", 1, 8, default_value=1, doc="B tile groups held in registers (manual blocking)"),
        Categorical(
            "loop_order",
            ("nm", "mn"),
            default_value="nm",
            doc="outer block loops: N blocks outside M blocks (nm) or the reverse",
        ),
        Categorical(
            "sparsity",
            ("nm", "rowwise", "per_layer"),
            default_value="nm",
            doc="weights: one N:M for all layers, row-wise N:M of unstructured "
            "sparsity, or the workload's per-layer n",
        ),
        Int("nm_n", 1, 128, default_value=2, doc="N of N:M (sparsity = nm)"),
        Categorical(
            "nm_m",
            (2, 4, 8, 16, 32, 64, 128),
            default_value=4,
            doc="M of N:M (sparsity = nm); the engine runs M = 4",
        ),
        Float(
            "density",
            0.005,
            1.0,
            default_value=0.05,
            doc="nonzero fraction of unstructured weights (sparsity = rowwise)",
        ),
        Categorical(
            "row_chunk",
            (16, 32, 64, 128),
            default_value=32,
            doc="row-chunk length sharing one N (sparsity = rowwise)",
        ),
        Categorical(
            "l2_bytes_per_cycle",
            (32, 64, 128),
            default_value=k.DEFAULT_L2_BYTES_PER_CYCLE,
            unit="B/cycle",
            doc="L2 -> L1 fill bandwidth",
        ),
        Int("l2_kib", 128, 4096, default_value=2048, unit="KiB", doc="L2 cache size"),
        Float(
            "dram_gbps",
            10.0,
            400.0,
            default_value=k.DEFAULT_DRAM_GBPS,
            unit="GB/s",
            doc="DRAM bandwidth available to the core",
        ),
    )
    outputs = (
        Output("latency_ms", "ms", "minimize", "GEMM time of the workload (layers x count)"),
        Output("energy_mj", "mJ", "minimize", "energy proxy: MACs, muxes, traffic, leakage"),
        Output("area_rel", "x RASA-SM", "minimize", "engine area proxy relative to RASA-SM"),
        Output("speedup_vs_rasa_sm", "x", "maximize", "RASA-SM time on the same core / time"),
        Output("utilization", "", "maximize", "MAC-slot use: stored-value MACs / (512 cycles)"),
        Output("tflops", "TFLOP/s", "maximize", "dense-equivalent throughput"),
        Output("cycles", "cycles", "minimize", "core cycles of the workload"),
        Output("compute_instrs", "instr", "minimize", "tile compute instructions"),
        Output("gemm_instrs", "instr", "minimize", "TILE_GEMM (dense) instructions"),
        Output("spmm_u_instrs", "instr", "minimize", "TILE_SPMM_U (2:4) instructions"),
        Output("spmm_v_instrs", "instr", "minimize", "TILE_SPMM_V (1:4) instructions"),
        Output("spmm_r_instrs", "instr", "minimize", "TILE_SPMM_R (row-wise) instructions"),
        Output("compute_bound_share", "", "maximize", "share of cycles in compute-bound layers"),
        Output(
            "denser_encoding_layers",
            "layers",
            "minimize",
            "layers run on a denser encoding than their pattern allows (faster there)",
        ),
        Output("tile_loads", "instr", "minimize", "tile loads (T/U/V)"),
        Output("meta_loads", "instr", "minimize", "metadata register loads"),
        Output("tile_stores", "instr", "minimize", "C tile stores"),
        Output("rf_mb", "MB", "minimize", "bytes loaded into tile registers"),
        Output("l2_mb", "MB", "minimize", "bytes moved L2 -> L1 plus C write-back"),
        Output("dram_mb", "MB", "minimize", "bytes moved to and from DRAM"),
        Output("weights_mb", "MB", "minimize", "stored weights: values + metadata, tile layout"),
        Output("pattern_violation", "", None, "1 when an S engine is given an N:M it can't run"),
        Output("register_violation", "tiles", None, "live tiles - tile registers (manual)"),
        Output("tiling_violation", "layers", None, "layers needing padding (allow_padding off)"),
    )

    def __init__(
        self,
        workload: str = "all",
        promote_patterns: bool = False,
        allow_padding: bool = True,
        aggregate: str = "total",
        rowwise_matrices: str | None = None,
    ) -> None:
        """Options.

        Args:
            workload: Built-in layer set (``all``, ``transformers``, ``bert_base``, ``vit_b16``,
                ``resnet50``) or a path to a CSV of ``M, N, K`` (see ``_workloads``).
            promote_patterns: Store N:M with M != 4 as the smallest N:4 holding it (lossless)
                instead of reporting a pattern violation.
            allow_padding: Pad shapes that do not tile (utilization loss); when False every such
                layer counts in ``tiling_violation``.
            aggregate: ``total`` (speed-up of summed time) or ``geomean`` (of per-layer speed-ups).
            rowwise_matrices: Path to a ``.npz`` of weight matrices ``[rows, K]``: row-wise
                N:M takes E[N] per chunk from these matrices magnitude-pruned to ``density``
                (``_rowwise_measured``) instead of the i.i.d. closed form.
        """
        if aggregate not in _AGGREGATES:
            raise ModelError(f"aggregate={aggregate!r}: expected one of {_AGGREGATES}")
        self.workload_spec = str(workload)
        self.workload: Workload = load_workload(workload)
        self.promote_patterns = bool(promote_patterns)
        self.allow_padding = bool(allow_padding)
        self.aggregate = aggregate
        # The fitted write-back latency (see _constants); an attribute so the fit can vary it.
        self.writeback = k.WRITEBACK_CYCLES_FITTED
        self.rowwise_matrices = rowwise_matrices
        self.rowwise_n: Callable[[np.ndarray, np.ndarray], np.ndarray] = expected_rowwise_n
        if rowwise_matrices is not None:
            self.rowwise_n = RowwiseProfile(load_matrices(rowwise_matrices)).expected_n

    # -- evaluation ----------------------------------------------------------------------------
    def _columns(self, batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        missing = [p.name for p in self.inputs if p.name not in batch]
        if missing:
            raise ModelError(f"model {self.name!r}: batch lacks input(s) {missing}")
        return {p.name: np.asarray(batch[p.name]) for p in self.inputs}

    def _baseline(self, cols: Mapping[str, np.ndarray], *, detail: bool) -> dict[str, np.ndarray]:
        """RASA-SM on each point's core (dense, auto blocking): ``cycles`` and ``log_cycles``
        (count-weighted sums over layers, ``(P,)``), with ``detail`` also ``layer_cycles``."""
        numeric = [
            cols[c] == "nm" if c == "loop_order" else np.asarray(cols[c], dtype=np.float64)
            for c in _CORE_INPUTS
        ]
        first, inverse = dedupe_rows(*numeric)
        base = {name: col[first] for name, col in cols.items()}
        u = len(first)
        base.update(
            engine=np.full(u, "rasa_sm"),
            tile_regs=np.full(u, 8),
            blocking=np.full(u, "auto"),
            sparsity=np.full(u, "nm"),
        )
        dense = Pattern.dense(u, len(self.workload))
        times = time_layers(
            base, self.workload, dense, writeback=self.writeback, rasa=True, detail=detail
        )
        out = {name: times["totals"][name][inverse] for name in ("cycles", "log_cycles")}
        if detail:
            out["layer_cycles"] = times["cycles"][inverse]
        return out

    def layer_table(
        self, batch: Mapping[str, np.ndarray], *, detail: bool = True
    ) -> dict[str, Any]:
        """Per-(point, layer) results (see ``_timing.time_layers``) and the RASA-SM baseline:
        ``base`` (``cycles``, ``log_cycles`` per point, ``layer_cycles`` with ``detail``)."""
        cols = self._columns(batch)
        pattern = layer_pattern(
            cols, self.workload, promote=self.promote_patterns, rowwise_n=self.rowwise_n
        )
        out = time_layers(cols, self.workload, pattern, writeback=self.writeback, detail=detail)
        out["base"] = self._baseline(cols, detail=detail)
        out["pattern_violation"] = pattern.violation
        if detail:
            out["n_stored"] = pattern.ns(np.arange(len(pattern.n)))
        return out

    def per_layer(self, batch: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """Per-(point, layer) latency and the encoding each layer ran on, vectorized.

        For models that consume this engine layer by layer (e.g. a serving model).

        Returns:
            ``layers`` (names, ``(L,)``), ``count`` (``(L,)``), and ``(P, L)`` arrays
            ``latency_ms`` (one instance of the layer), ``encoding`` (``"dense"``, ``"2:4"``,
            ``"1:4"`` or ``"rowwise"``), ``instruction`` (index into ``KIND_NAMES``),
            ``n_stored`` (the N per 4 the weights allow) and ``n_run`` (the encoding's N).
        """
        t = self.layer_table(batch)
        clock_hz = np.asarray(self._columns(batch)["clock_ghz"], dtype=np.float64) * 1e9
        return {
            "layers": np.asarray(self.workload.names),
            "count": self.workload.count.copy(),
            "latency_ms": t["cycles"] / clock_hz[:, None] * 1e3,
            "encoding": np.asarray(ENCODING_NAMES)[t["kind"]],
            "instruction": np.asarray(t["kind"]),
            "n_stored": t["n_stored"],
            "n_run": t["n_run"],
        }

    def evaluate(
        self, batch: Mapping[str, np.ndarray], context: EvalContext | None = None
    ) -> dict[str, np.ndarray]:
        cols = self._columns(batch)
        t = self.layer_table(cols, detail=False)
        points = len(cols["engine"])
        sums = t["totals"]
        cycles = sums["cycles"]
        seconds = cycles / (cols["clock_ghz"] * 1e9)
        if self.aggregate == "total":
            speedup = t["base"]["cycles"] / cycles
        else:
            gain = t["base"]["log_cycles"] - sums["log_cycles"]
            speedup = np.exp(gain / self.workload.count.sum())

        is_rasa = cols["engine"] == "rasa_sm"
        sparse = ~is_rasa & cols["sparse_capable"].astype(bool)
        alpha = np.where(is_rasa, 1.0, cols["alpha"].astype(np.float64))
        beta = np.where(is_rasa, 1.0, cols["beta"].astype(np.float64))
        area = area_proxy(alpha, beta, sparse)
        instrs = sums["instrs"]
        rf = sums["bytes_rf"]
        l2 = sums["bytes_l2"]
        dram = sums["bytes_dram"]
        energy_pj = (
            instrs * k.MACS_PER_INSTR * (k.E_MAC_PJ + sparse * k.E_MUX_PJ)
            + (rf + sums["bytes_store"]) * k.E_L1_PJ_PER_BYTE
            + l2 * k.E_L2_PJ_PER_BYTE
            + dram * k.E_DRAM_PJ_PER_BYTE
            + cycles * k.E_STATIC_PJ_PER_CYCLE_REF * area / RASA_SM_AREA
        )
        tiling = np.zeros(points) if self.allow_padding else sums["padded"]
        return {
            "latency_ms": seconds * 1e3,
            "energy_mj": energy_pj * 1e-9,
            "area_rel": area / RASA_SM_AREA,
            "speedup_vs_rasa_sm": speedup,
            "utilization": sums["useful_macs"] / (k.MACS * cycles),
            "tflops": 2.0 * self.workload.dense_macs / seconds / 1e12,
            "cycles": cycles,
            "compute_instrs": instrs,
            "gemm_instrs": sums["TILE_GEMM"],
            "spmm_u_instrs": sums["TILE_SPMM_U"],
            "spmm_v_instrs": sums["TILE_SPMM_V"],
            "spmm_r_instrs": sums["TILE_SPMM_R"],
            "compute_bound_share": sums["compute_bound_cycles"] / cycles,
            "denser_encoding_layers": sums["denser_layers"],
            "tile_loads": sums["tile_loads"],
            "meta_loads": sums["meta_loads"],
            "tile_stores": sums["stores"],
            "rf_mb": rf / 1e6,
            "l2_mb": l2 / 1e6,
            "dram_mb": dram / 1e6,
            "weights_mb": sums["weight_bytes"] / 1e6,
            "pattern_violation": t["pattern_violation"],
            "register_violation": t["register_violation"],
            "tiling_violation": tiling,
        }

    def breakdown(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """One row per layer for one design point: bound, utilization, cycles, instructions."""
        batch = self.batch(None, **{name: [value] for name, value in params.items()})
        t = self.layer_table(batch)
        shape = (1, len(self.workload))
        t = {key: np.broadcast_to(v, shape) if np.ndim(v) == 2 else v for key, v in t.items()}
        clock_hz = float(batch["clock_ghz"][0]) * 1e9
        rows = []
        for j, name in enumerate(self.workload.names):
            cyc = float(t["cycles"][0, j])
            rows.append(
                {
                    "layer": name,
                    "M": int(self.workload.m[j]),
                    "N": int(self.workload.n[j]),
                    "K": int(self.workload.k[j]),
                    "count": int(self.workload.count[j]),
                    "instruction": KIND_NAMES[int(t["kind"][0, j])],
                    "encoding": ENCODING_NAMES[int(t["kind"][0, j])],
                    "n_stored": float(t["n_stored"][0, j]),
                    "n_run": float(t["n_run"][0, j]),
                    "bound": BOUNDS[int(t["bound"][0, j])],
                    "utilization": float(t["useful_macs"][0, j]) / (k.MACS * cyc),
                    "cycles": cyc,
                    "latency_ms": cyc / clock_hz * 1e3,
                    "speedup_vs_rasa_sm": float(t["base"]["layer_cycles"][0, j]) / cyc,
                    "compute_instrs": float(t["instrs"][0, j]),
                    "b_m": int(t["b_m"][0, j]),
                    "b_n": int(t["b_n"][0, j]),
                }
            )
        return rows

    # -- published numbers ---------------------------------------------------------------------
    def anchors(self) -> list[Anchor]:
        from costmodels.sparse_gemm._anchors import headline_anchors

        return headline_anchors(self)

    # -- native schema -------------------------------------------------------------------------
    def native_config(self, params: Mapping[str, Any]) -> dict[str, Any]:
        from costmodels.sparse_gemm._native import to_native

        return to_native(self, params)

    def from_native(self, config: Mapping[str, Any]) -> dict[str, Any]:
        from costmodels.sparse_gemm._native import from_native

        return from_native(self, config)

    @property
    def workload_path(self) -> Path | None:
        path = Path(self.workload_spec)
        return path if path.suffix.lower() == ".csv" else None
