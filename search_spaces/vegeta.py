"""Search space of VEGETA-like sparse tile-GEMM engines (cost model ``sparse_gemm``).

Three groups of parameters, named as the model's inputs:

* engine: ``engine`` (VEGETA or the RASA-SM baseline), ``alpha`` (PUs per PE), ``beta`` (MACs
  per PU), ``sparse_capable`` (S vs D), ``tile_regs``, ``load_ports``, ``load_port_bytes``,
  ``clock_ghz``, ``l2_bytes_per_cycle``;
* kernel: ``blocking`` (auto or manual ``b_m`` x ``b_n``), ``loop_order``;
* sparsity: ``sparsity`` (one N:M for all layers, row-wise N:M of unstructured weights at
  ``density`` with ``row_chunk``, or the workload's per-layer N), ``nm_n``, ``nm_m``.

The space adds no constraints: the patterns an engine runs (an S engine runs N:4 only) and the
tile-register budget of manual blocking are the model's violation outputs
(``pattern_violation``, ``register_violation``, ``tiling_violation``), defined once there.

Every parameter is the model's own declaration (doc, unit, default), narrowed here to a finite
grid so the space can be swept; memory parameters (``l2_kib``, ``dram_gbps``) are pinned to the
model's defaults.
"""

from __future__ import annotations

from typing import Any

from costmodels.sparse_gemm import SparseGemmModel
from search_spaces._declared import declared
from search_spaces._params import Condition, Param
from search_spaces._space import Space


__all__ = ["space"]

_VEGETA = Condition("engine", ("vegeta",))
_MANUAL = Condition("blocking", ("manual",))
_NM = Condition("sparsity", ("nm",))
_ROWWISE = Condition("sparsity", ("rowwise",))


def space() -> Space:
    def p(name: str, condition: Condition | None = None, narrow: Any = None) -> Param:
        return declared(SparseGemmModel, name, narrow, condition=condition)

    def pinned(name: str) -> Param:
        return declared(SparseGemmModel, name, SparseGemmModel.input(name).default)

    return Space(
        params=(
            p("engine"),
            p("alpha", _VEGETA),
            p("beta", _VEGETA),
            p("sparse_capable", _VEGETA),
            p("tile_regs"),
            p("load_ports"),
            p("load_port_bytes"),
            p("clock_ghz", narrow={"low": 1.5, "high": 3.0, "steps": 4}),
            p("l2_bytes_per_cycle", narrow=[64, 128]),
            p("blocking"),
            p("b_m", _MANUAL, {"high": 4}),
            p("b_n", _MANUAL, {"high": 4}),
            p("loop_order"),
            p("sparsity"),
            p("nm_n", _NM, {"high": 4}),
            p("nm_m", _NM, [2, 4, 8]),
            p("density", _ROWWISE, {"low": 0.05, "high": 0.5, "steps": 4, "log": True}),
            p("row_chunk", _ROWWISE),
            pinned("l2_kib"),
            pinned("dram_gbps"),
        ),
        name="vegeta",
        doc="VEGETA-like sparse tile-GEMM engine, kernel and weight sparsity",
    )
