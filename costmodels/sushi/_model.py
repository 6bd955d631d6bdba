"""``SushiModel``: SUSHI-style SuperNet serving with SubGraph Stationary, as a cost model.

Pipeline per batch of design points (see the private modules for the equations):

1. points that serve alike are served once; the rest are grouped by their workload
   (SuperNet, pool) and stream; each group shares a SubNet pool (:mod:`._pool`) and a query
   trace (:mod:`._streams`);
2. per group, :func:`._fast_tables.fast_serving_tables` builds latency / traffic / energy
   tables ``[P, S, G]`` for every hardware point at once (``S`` pool SubNets, ``G`` PB
   contents), the same as :func:`._accelerator.serving_tables` with shared work done once;
3. :func:`._fast_scheduler.simulate_with_baseline` serves the trace under each point's policy
   and without a PB (the baseline of every saving), with the decisions of
   :func:`._scheduler.simulate`.

``impl="reference"`` runs the original path (steps 2 and 3 with :mod:`._accelerator` and
:mod:`._scheduler`, groups also split by scheduler period, the baseline stacked on the point
axis); both give the same results (``docs/models/sushi.md`` section 11).

Infeasible designs are values, not exceptions: ``onchip_mem_violation_mb`` (PB + activation +
stream buffers beyond the on-chip memory) and ``mac_budget_violation`` (PE array beyond the MAC
budget). Targets no SubNet meets are counted SLO misses.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import numpy as np

from costmodels._pipeline import _distinct_rows as distinct_rows
from costmodels._protocol import Anchor, CostModel, EvalContext, ModelError, Output
from costmodels.sushi._accelerator import HW_FIELDS, MB, ServingTables, serving_tables
from costmodels.sushi._accuracy import AccuracyModel
from costmodels.sushi._cache import FILL_PRIORITIES, fill, fill_order
from costmodels.sushi._fast_scheduler import BaselineStats, simulate_with_baseline
from costmodels.sushi._fast_tables import fast_serving_tables
from costmodels.sushi._pool import POOL_KINDS, SubNetPool, build_pool
from costmodels.sushi._scheduler import FALLBACKS, POLICIES, ServingStats, simulate
from costmodels.sushi._streams import STREAM_KINDS, StreamSpec, Trace, generate, load_trace
from costmodels.sushi._supernet import KIND_NAMES, SUPERNETS, shared_params
from search_spaces import Categorical, Float, Int, Param


__all__ = ["SushiModel"]

_GROUP_FIELDS = (
    "supernet",
    "pool_kind",
    "pool_size",
    "stream_kind",
    "stream_locality",
    "stream_dwell_queries",
    "latency_query_share",
    "n_queries",
    "trace_seed",
    "update_period_q",
    "history_window",
)
IMPLS = ("fast", "reference")
_LINK_FIELDS = ("weight_bytes_scale", "gemm_latency_scale")
# Hardware points per table chunk: bounds the [P, S, G, G] switch and [P, S, G] table memory.
_POINT_CHUNK = 256
_FAST_CHUNK = 512  # the fast path holds about 10 [P, S, G] arrays (about 130 MB at S = 48)

INPUTS: tuple[Param, ...] = (
    # workload
    Categorical(
        "supernet",
        tuple(SUPERNETS),
        default_value="ofa_mbv3_w1.0",
        doc="weight-shared SuperNet the SubNets come from",
    ),
    Categorical(
        "pool_kind",
        POOL_KINDS,
        default_value="pareto",
        doc="SubNet pool: Pareto front of 2000 samples, random, or the measured table",
    ),
    Int("pool_size", 4, 64, default_value=24, doc="SubNets in the pool (the servable set)"),
    Categorical(
        "quant_bits", (8, 16), default_value=8, unit="bit", doc="weight and activation precision"
    ),
    # accelerator
    Int("pe_k", 1, 64, default_value=16, doc="PE array: output channels per cycle (K16)"),
    Int("pe_c", 1, 32, default_value=9, doc="PE array: input channels per cycle (SushiAccel C9)"),
    Int("pe_rs", 1, 16, default_value=9, doc="PE array: kernel taps per cycle (3x3 window)"),
    Int(
        "mac_budget",
        64,
        16384,
        default_value=1296,
        unit="MAC/cycle",
        doc="MACs per cycle the device affords (ZCU104 design: 16*9*9 = 1296)",
    ),
    Float("clock_mhz", 50.0, 500.0, default_value=200.0, unit="MHz", doc="accelerator clock"),
    Float(
        "util_dense",
        0.3,
        1.0,
        default_value=0.88,
        doc="pipeline efficiency on dense layers (FEATHER ZCU104 fit 1/1.141)",
    ),
    Float(
        "util_depthwise",
        0.3,
        1.0,
        default_value=0.88,
        doc="pipeline efficiency on depthwise layers (lane waste is modelled separately)",
    ),
    Float(
        "dram_bw_gbps",
        0.5,
        460.0,
        log=True,
        default_value=3.0,
        unit="GB/s",
        doc="effective off-chip weight/activation bandwidth",
    ),
    Float(
        "layer_overhead_us",
        0.0,
        200.0,
        default_value=10.0,
        unit="us",
        doc="fixed cost per layer (FEATHER's PYNQ-polled design: 100)",
    ),
    Categorical(
        "overlap",
        ("serial", "double_buffer"),
        default_value="serial",
        doc="weight fetch serialized with compute, or overlapped per layer",
    ),
    # buffers
    Float("pb_mb", 0.0, 32.0, default_value=4.5, unit="MB", doc="persistent buffer (SubGraph)"),
    Float(
        "act_buf_mb",
        0.0,
        16.0,
        default_value=1.0,
        unit="MB",
        doc="activation buffer; a layer whose in+out maps exceed it spills off chip",
    ),
    Float(
        "stream_buf_mb",
        0.0,
        8.0,
        default_value=0.25,
        unit="MB",
        doc="weight streaming buffer (occupies on-chip memory)",
    ),
    Float(
        "onchip_mem_mb",
        0.5,
        64.0,
        default_value=28.0,
        unit="MB",
        doc="on-chip RAM of the device (ZCU104 about 4.75, Alveo U50 about 28)",
    ),
    # cache and scheduler
    Categorical("policy", POLICIES, default_value="sushi", doc="serving policy"),
    Categorical(
        "fill_priority",
        FILL_PRIORITIES,
        default_value="bytes_per_mac",
        doc="order in which a SubGraph's layers enter the PB",
    ),
    Int(
        "update_period_q",
        1,
        10_000,
        log=True,
        default_value=50,
        unit="queries",
        doc="queries between PB decisions (Q)",
    ),
    Int(
        "history_window",
        1,
        10_000,
        log=True,
        default_value=200,
        unit="queries",
        doc="recent queries the PB decision looks at",
    ),
    Categorical(
        "switch_blocking",
        (True, False),
        default_value=True,
        doc="a PB refill stalls the next query",
    ),
    # query stream
    Categorical(
        "stream_kind",
        STREAM_KINDS,
        default_value="markov",
        doc="demand process: AR(1), Markov regimes, or i.i.d. (no locality)",
    ),
    Float("stream_locality", 0.0, 0.999, default_value=0.99, doc="AR(1) coefficient phi"),
    Float(
        "stream_dwell_queries",
        1.0,
        10_000.0,
        log=True,
        default_value=200.0,
        unit="queries",
        doc="mean regime dwell time (Markov)",
    ),
    Float(
        "latency_query_share",
        0.0,
        1.0,
        default_value=0.5,
        doc="share of strict-latency queries (the rest carry an accuracy floor)",
    ),
    Int(
        "n_queries",
        100,
        100_000,
        log=True,
        default_value=10_000,
        unit="queries",
        doc="trace length",
    ),
    Int("trace_seed", 0, 2**31 - 1, default_value=0, doc="trace seed"),
    # energy
    Float(
        "e_dram_pj_per_byte",
        10.0,
        320.0,
        default_value=220.0,
        unit="pJ/B",
        doc="off-chip energy per byte (DDR4 about 220, HBM2 about 56)",
    ),
    Float(
        "e_sram_pj_per_byte",
        0.5,
        15.0,
        default_value=12.5,
        unit="pJ/B",
        doc="on-chip SRAM energy per byte (about 12.5 for a 1 MB macro)",
    ),
    Float("e_mac_pj", 0.05, 1.0, default_value=0.2, unit="pJ", doc="energy per int8 MAC"),
    # links to an external engine model (co-design); 1.0 = this model's own accelerator
    Float(
        "weight_bytes_scale",
        0.05,
        2.0,
        default_value=1.0,
        unit="ratio",
        doc="stored / dense weight bytes of GEMM-shaped layers, sparse metadata included "
        "(fetched, read and held in the PB at that size; depthwise layers stay dense)",
    ),
    Float(
        "gemm_latency_scale",
        0.01,
        100.0,
        log=True,
        default_value=1.0,
        unit="ratio",
        doc="linked engine's compute time / this accelerator's compute time, GEMM-shaped "
        "layers (per-layer overhead, weight fetch and depthwise layers unchanged)",
    ),
)

OUTPUTS: tuple[Output, ...] = (
    Output("latency_ms", "ms", "minimize", "mean service latency per query"),
    Output("p99_latency_ms", "ms", "minimize", "99th-percentile service latency"),
    Output(
        "response_ms",
        "ms",
        "minimize",
        "mean response time with FIFO queueing at the trace's arrival times",
    ),
    Output("served_acc_pct", "%", "maximize", "mean top-1 of the SubNets served"),
    Output("slo_violation_pct", "%", "minimize", "queries missing their target"),
    Output(
        "latency_slo_violation_pct",
        "%",
        "minimize",
        "latency-SLO queries served above their latency target",
    ),
    Output(
        "accuracy_slo_violation_pct",
        "%",
        "minimize",
        "accuracy-floor queries served below their accuracy floor",
    ),
    Output(
        "offchip_mb_per_query",
        "MB",
        "minimize",
        "off-chip traffic per query: weight misses, activation spills, PB refills",
    ),
    Output("offchip_energy_mj", "mJ", "minimize", "off-chip energy per query"),
    Output("energy_mj", "mJ", "minimize", "off-chip plus on-chip energy per query"),
    Output("latency_saving_pct", "%", "maximize", "mean latency saved against no PB"),
    Output("offchip_energy_saving_pct", "%", "maximize", "off-chip energy saved against no PB"),
    Output("served_acc_gain_pp", "pp", "maximize", "served top-1 gained against no PB"),
    Output("hit_ratio_pct", "%", "maximize", "weight bytes served from the PB"),
    Output("switch_count", "", "minimize", "PB content changes over the trace"),
    Output(
        "weight_fetch_share_pct",
        "%",
        "minimize",
        "diagnostic: share of no-PB latency spent fetching weights (served SubNets)",
    ),
    Output(
        "onchip_mem_violation_mb",
        "MB",
        None,
        "PB + activation + stream buffers - on-chip memory (<= 0 feasible)",
    ),
    Output(
        "mac_budget_violation",
        "MAC/cycle",
        None,
        "pe_k * pe_c * pe_rs - mac_budget (<= 0 feasible)",
    ),
)


@lru_cache(maxsize=64)
def _trace_for(spec: StreamSpec) -> Trace:
    return generate(spec)


class SushiModel(CostModel):
    """SUSHI serving: SuperNet pool, SushiAccel-like latency/energy, SubGraph Stationary cache,
    SushiSched-like scheduler, synthetic query streams.

    Args:
        trace_file: A trace file (see :mod:`costmodels.sushi._streams`) served instead of the
            generated stream; the stream inputs are then ignored.
        accuracy_trend: ``"published"`` (OFA README points) or ``"lab"`` (measured table).
        accuracy_lookup: Optional CSV of measured accuracies (shipped table layout).
        pool_seed: Seed of the candidate SubNets the pool is drawn from.
        pool_candidates: Random SubNets the Pareto pool is filtered from.
        pool_resolutions: Restrict pool SubNets to these resolutions (default: all).
        fallback: ``"best_effort"`` or ``"fastest"`` for queries no SubNet meets.
        stride2_full_res: Compute stride-2 layers at full input resolution (FEATHER fit).
        stream_regimes: Markov regimes (demand levels).
        stream_jitter: Per-query target jitter (quantile units).
        arrival_rate_qps: Mean arrival rate of generated streams.
        bursty: Bursty (MMPP) arrivals instead of Poisson.
        impl: ``"fast"`` (default) or ``"reference"``: the original implementation (tables
            per point, :mod:`._accelerator` and :mod:`._scheduler`), kept so benchmarks and
            tests compare both on the same points; the results are equal. The reference
            knows neither ``weight_bytes_scale`` nor ``gemm_latency_scale`` and rejects
            values other than 1.

    Engine links (inputs, per point, default 1.0; see :mod:`._fast_tables`): a co-design
    model passes the ratio of its compressed to dense weight bytes (metadata included) as
    ``weight_bytes_scale`` and the ratio of its GEMM latency to this accelerator's compute time
    as ``gemm_latency_scale``. Both apply to every GEMM-shaped slot (all but depthwise): a slot
    of ``n`` parameters then stores, fetches and holds ``n * bits / 8 * weight_bytes_scale``
    bytes and computes in ``gemm_latency_scale * t_c``.
    """

    name = "sushi"
    version = "1"
    doc = (
        "SUSHI (MLSys'23) serving: weight-shared SuperNet SubNets on a SushiAccel-like "
        "accelerator with a SubGraph Stationary persistent buffer and a SushiSched-like "
        "scheduler over a query stream"
    )
    inputs = INPUTS
    outputs = OUTPUTS

    def __init__(
        self,
        trace_file: str | None = None,
        accuracy_trend: str = "published",
        accuracy_lookup: str | None = None,
        pool_seed: int = 0,
        pool_candidates: int = 2000,
        pool_resolutions: list[int] | tuple[int, ...] | None = None,
        fallback: str = "best_effort",
        stride2_full_res: bool = True,
        stream_regimes: int = 4,
        stream_jitter: float = 0.05,
        arrival_rate_qps: float = 100.0,
        bursty: bool = False,
        impl: str = "fast",
    ) -> None:
        if impl not in IMPLS:
            raise ModelError(f"sushi option impl={impl!r}: expected one of {IMPLS}")
        if fallback not in FALLBACKS:
            raise ModelError(f"sushi option fallback={fallback!r}: expected one of {FALLBACKS}")
        try:
            self.accuracy = AccuracyModel(accuracy_trend, True, accuracy_lookup)
            self.trace = load_trace(trace_file) if trace_file is not None else None
            # validate the stream options once, with the default inputs
            StreamSpec(
                n_regimes=stream_regimes,
                jitter=stream_jitter,
                rate_qps=arrival_rate_qps,
                bursty=bursty,
            )
        except ValueError as exc:
            raise ModelError(f"sushi options: {exc}") from None
        if pool_candidates < 1:
            raise ModelError(f"sushi option pool_candidates={pool_candidates}: expected >= 1")
        self.trace_file = trace_file
        self.pool_seed = int(pool_seed)
        self.pool_candidates = int(pool_candidates)
        self.pool_resolutions = tuple(pool_resolutions) if pool_resolutions else None
        self.fallback = fallback
        self.stride2_full_res = bool(stride2_full_res)
        self.stream_regimes = int(stream_regimes)
        self.stream_jitter = float(stream_jitter)
        self.arrival_rate_qps = float(arrival_rate_qps)
        self.bursty = bool(bursty)
        self.impl = impl

    # -- building blocks -------------------------------------------------------------------------
    def pool(self, supernet: str, kind: str = "pareto", size: int = 24) -> SubNetPool:
        """The SubNet pool for these workload inputs.

        Raises:
            ModelError: naming the input when the pool cannot be built (e.g. empty).
        """
        try:
            return build_pool(
                str(supernet),
                int(size),
                str(kind),
                self.pool_seed,
                self.pool_candidates,
                self.pool_resolutions,
                self.accuracy,
            )
        except ValueError as exc:
            raise ModelError(f"sushi pool: {exc}") from None

    def stream_trace(self, row: Mapping[str, Any]) -> Trace:
        """The trace served for one group of points (the trace file when one was given)."""
        if self.trace is not None:
            return self.trace
        spec = StreamSpec(
            kind=str(row["stream_kind"]),
            n_queries=int(row["n_queries"]),
            phi=float(row["stream_locality"]),
            dwell=float(row["stream_dwell_queries"]),
            n_regimes=self.stream_regimes,
            latency_share=float(row["latency_query_share"]),
            jitter=self.stream_jitter,
            rate_qps=self.arrival_rate_qps,
            bursty=self.bursty,
            seed=int(row["trace_seed"]),
        )
        return _trace_for(spec)

    # -- evaluation ------------------------------------------------------------------------------
    def evaluate(
        self, batch: Mapping[str, np.ndarray], context: EvalContext | None = None
    ) -> dict[str, np.ndarray]:
        cols = {p.name: np.asarray(batch[p.name]) for p in self.inputs}
        n = len(cols["pe_k"])
        out = {o.name: np.full(n, np.nan) for o in self.outputs}
        if n == 0:
            return out
        if self.impl == "reference":
            for name in _LINK_FIELDS:
                if (cols[name] != 1.0).any():
                    raise ModelError(
                        f"sushi impl='reference': {name} must be 1.0 (the reference "
                        "implementation predates the engine links)"
                    )
        if self.impl == "fast" and n > 1:
            first, inv = _distinct_serving(cols)
            if len(first) < n:  # serve each distinct point once; outputs are per point
                sub = self.evaluate({k: v[first] for k, v in cols.items()}, context)
                return {**{k: v[inv] for k, v in sub.items()}, **_violations(cols)}
        fields = _GROUP_FIELDS if self.impl == "reference" else _GROUP_FIELDS[:-2]
        chunk = _POINT_CHUNK if self.impl == "reference" else _FAST_CHUNK
        codes = np.zeros(n, dtype=np.int64)
        for name in fields:
            _, inv = np.unique(cols[name], return_inverse=True)
            codes = codes * (int(inv.max()) + 1) + inv.reshape(-1)
        _, first, group_of = np.unique(codes, return_index=True, return_inverse=True)
        for g, head in enumerate(first):
            idx = np.flatnonzero(group_of.reshape(-1) == g)
            row = {k: v[head].item() for k, v in cols.items()}
            pool = self.pool(row["supernet"], row["pool_kind"], row["pool_size"])
            trace = self.stream_trace(row)
            if self.impl == "fast":  # chunks of one scheduler period share the block loop
                idx = idx[np.lexsort((cols["history_window"][idx], cols["update_period_q"][idx]))]
            for start in range(0, len(idx), chunk):
                part = idx[start : start + chunk]
                if self.impl == "reference":
                    self._evaluate_group(cols, part, row, pool, trace, out)
                else:
                    self._evaluate_fast(cols, part, pool, trace, out)
        out.update(_violations(cols))
        return out

    def _evaluate_fast(
        self,
        cols: Mapping[str, np.ndarray],
        idx: np.ndarray,
        pool: SubNetPool,
        trace: Trace,
        out: dict[str, np.ndarray],
    ) -> None:
        """Points of one pool and trace, any policy, period and window (the default path)."""
        hw = {k: cols[k][idx] for k in HW_FIELDS}
        policy = cols["policy"][idx].astype(str)
        switching = np.isin(policy, ("sushi", "cache_oblivious"))
        order = np.argsort(pool.acc, kind="stable")  # the scheduler wants accuracy order
        tables = fast_serving_tables(
            pool,
            hw,
            self.stride2_full_res,
            switching,
            cols["weight_bytes_scale"][idx],
            cols["gemm_latency_scale"][idx],
            subnet_order=order,
        )
        period, window = cols["update_period_q"][idx], cols["history_window"][idx]
        blocking = cols["switch_blocking"][idx].astype(bool)
        stats, base = simulate_with_baseline(
            tables, pool.acc[order], trace, policy, period, window, blocking, self.fallback
        )
        _write_outputs(out, idx, tables, stats, base)

    def _evaluate_group(
        self,
        cols: Mapping[str, np.ndarray],
        idx: np.ndarray,
        row: Mapping[str, Any],
        pool: SubNetPool,
        trace: Trace,
        out: dict[str, np.ndarray],
    ) -> None:
        """The reference path: one group shares Q and window; the baseline is stacked."""
        hw = {k: cols[k][idx] for k in HW_FIELDS}
        policy = cols["policy"][idx].astype(str)
        switching = np.isin(policy, ("sushi", "cache_oblivious"))
        tables = serving_tables(pool, hw, self.stride2_full_res, switching)
        own, base = _serve_reference(
            tables,
            pool.acc,
            trace,
            policy,
            int(row["update_period_q"]),
            int(row["history_window"]),
            cols["switch_blocking"][idx].astype(bool),
            self.fallback,
        )
        _write_outputs(out, idx, tables, own, base)

    # -- anchors, breakdown, native config --------------------------------------------------
    def anchors(self) -> list[Anchor]:
        from costmodels.sushi._anchors import sushi_anchors

        return sushi_anchors(self)

    def breakdown(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Per-layer PB residency of the pool's most accurate SubNet under the PB content the
        scheduler would pick for it alone (the SubNet itself): held, hit and missed bytes."""
        known = {p.name for p in self.inputs}
        b = self.batch(1, **{k: v for k, v in params.items() if k in known})
        pool = self.pool(b["supernet"][0].item(), b["pool_kind"][0].item(), int(b["pool_size"][0]))
        s = int(np.argmax(pool.acc))
        bpw = float(b["quant_bits"][0]) / 8.0
        cand = pool.subgraph_layers
        order = fill_order(cand, str(b["fill_priority"][0]))
        f = fill(cand.params.astype(np.float64), order, np.asarray([b["pb_mb"][0] * MB / bpw]))
        held = f.held()[0, s]
        sub = pool.layers
        shared = shared_params(sub, cand)[s, s]
        hit = np.minimum(shared, held)
        rows = []
        for li, name in enumerate(sub.names):
            w = float(sub.params[s, li]) * bpw
            if w == 0:
                continue
            rows.append(
                {
                    "layer": name,
                    "kind": KIND_NAMES[int(sub.kind[li])],
                    "weight_bytes": w,
                    "hit_bytes": float(hit[li]) * bpw,
                    "miss_bytes": w - float(hit[li]) * bpw,
                    "macs": float(sub.macs[s, li]),
                }
            )
        return rows

    def native_config(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Nested form: workload, accelerator, buffers, scheduler, stream, energy."""
        sections = {
            "workload": ("supernet", "pool_kind", "pool_size", "quant_bits"),
            "accelerator": (
                "pe_k",
                "pe_c",
                "pe_rs",
                "mac_budget",
                "clock_mhz",
                "util_dense",
                "util_depthwise",
                "dram_bw_gbps",
                "layer_overhead_us",
                "overlap",
            ),
            "buffers": ("pb_mb", "act_buf_mb", "stream_buf_mb", "onchip_mem_mb"),
            "scheduler": (
                "policy",
                "fill_priority",
                "update_period_q",
                "history_window",
                "switch_blocking",
            ),
            "stream": (
                "stream_kind",
                "stream_locality",
                "stream_dwell_queries",
                "latency_query_share",
                "n_queries",
                "trace_seed",
            ),
            "energy": ("e_dram_pj_per_byte", "e_sram_pj_per_byte", "e_mac_pj"),
            "links": _LINK_FIELDS,
        }
        out: dict[str, Any] = {}
        for section, names in sections.items():
            for k in names:
                if k in params:
                    out.setdefault(section, {})[k] = _plain(params[k])
        return out

    def from_native(self, config: Mapping[str, Any]) -> dict[str, Any]:
        flat: dict[str, Any] = {}
        for section in config.values():
            if not isinstance(section, Mapping):
                raise ModelError("sushi native config: expected sections of key/value tables")
            flat.update(section)
        return flat


_VIOLATION_ONLY = ("stream_buf_mb", "onchip_mem_mb", "mac_budget")  # no effect on serving
_PB_ONLY = ("pb_mb", "fill_priority", "switch_blocking")  # unused without a PB
_PERIOD_ONLY = ("update_period_q", "history_window")  # unused when the PB never changes


def _serve_reference(
    tables: ServingTables,
    acc: np.ndarray,
    trace: Trace,
    policy: np.ndarray,
    period: int,
    window: int,
    blocking: np.ndarray,
    fallback: str,
) -> tuple[ServingStats, BaselineStats]:
    """The reference scheduler on points sharing ``period`` and ``window``: the points'
    policies and the no-PB baseline, stacked on the point axis."""
    m = len(policy)
    stats = simulate(
        _stack_tables(tables),
        acc,
        trace,
        np.concatenate([policy, np.full(m, "no_pb")]),
        period,
        window,
        np.tile(blocking, 2),
        fallback,
        detail=np.arange(2 * m) < m,  # the baseline only feeds the savings
    )
    base = BaselineStats(
        mean_latency_ms=stats.mean_latency_ms[m:],
        served_acc_pct=stats.served_acc_pct[m:],
        offchip_bytes=stats.offchip_bytes[m:],
        fetch_share=stats.fetch_share[m:],
    )
    own = ServingStats(**{k: getattr(stats, k)[:m] for k in ServingStats.__dataclass_fields__})
    return own, base


def _violations(cols: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The two constraint outputs, per point from its columns."""
    return {
        "onchip_mem_violation_mb": (
            cols["pb_mb"] + cols["act_buf_mb"] + cols["stream_buf_mb"] - cols["onchip_mem_mb"]
        ).astype(np.float64),
        "mac_budget_violation": (
            cols["pe_k"] * cols["pe_c"] * cols["pe_rs"] - cols["mac_budget"]
        ).astype(np.float64),
    }


def _distinct_serving(cols: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """One representative per set of points that serve identically, and each point's set.

    Inputs a point's policy never reads are left out of its key: the PB settings for
    ``no_pb``, the scheduler period and window for ``no_pb`` and ``static_pb``, and the inputs
    that only enter the violation outputs (computed per point from the columns).
    """
    policy = np.asarray(cols["policy"]).astype(str)
    no_pb = policy == "no_pb"
    fixed = no_pb | (policy == "static_pb")
    codes = []
    for name, col in cols.items():
        if name in _VIOLATION_ONLY:
            continue
        code = np.unique(col, return_inverse=True)[1].reshape(-1)
        if name in _PB_ONLY:
            code = np.where(no_pb, -1, code)
        elif name in _PERIOD_ONLY:
            code = np.where(fixed, -1, code)
        codes.append(code)
    return distinct_rows(codes)


def _write_outputs(
    out: dict[str, np.ndarray],
    idx: np.ndarray,
    tables: ServingTables,
    stats: ServingStats,
    base: BaselineStats,
) -> None:
    """The model's outputs at points ``idx`` from their stats and their no-PB baseline."""
    e_dram = tables.e_dram_mj_per_byte
    off_mj = stats.offchip_bytes * e_dram
    base_mj = base.offchip_bytes * e_dram
    out["latency_ms"][idx] = stats.mean_latency_ms
    out["p99_latency_ms"][idx] = stats.p99_latency_ms
    out["response_ms"][idx] = stats.mean_response_ms
    out["served_acc_pct"][idx] = stats.served_acc_pct
    out["slo_violation_pct"][idx] = 100.0 * stats.miss_rate
    out["latency_slo_violation_pct"][idx] = 100.0 * stats.latency_miss_rate
    out["accuracy_slo_violation_pct"][idx] = 100.0 * stats.accuracy_miss_rate
    out["offchip_mb_per_query"][idx] = stats.offchip_bytes / MB
    out["offchip_energy_mj"][idx] = off_mj
    out["energy_mj"][idx] = off_mj + stats.onchip_mj
    out["latency_saving_pct"][idx] = 100.0 * (1.0 - stats.mean_latency_ms / base.mean_latency_ms)
    out["offchip_energy_saving_pct"][idx] = 100.0 * (1.0 - off_mj / base_mj)
    out["served_acc_gain_pp"][idx] = stats.served_acc_pct - base.served_acc_pct
    out["hit_ratio_pct"][idx] = 100.0 * stats.hit_ratio
    out["switch_count"][idx] = stats.switches.astype(np.float64)
    out["weight_fetch_share_pct"][idx] = 100.0 * base.fetch_share


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _stack_tables(t: ServingTables) -> ServingTables:
    """The tables twice along the point axis (the point's policy, then the no-PB baseline)."""
    return ServingTables(
        **{
            k: np.concatenate([getattr(t, k), getattr(t, k)], axis=0)
            for k in ServingTables.__dataclass_fields__
        }
    )
