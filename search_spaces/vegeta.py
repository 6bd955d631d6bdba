"""Search space of VEGETA-like sparse tile-GEMM engines (cost model ``sparse_gemm``).

Three groups of parameters, named as the model's inputs:

* engine: ``engine`` (VEGETA or the RASA-SM baseline), ``alpha`` (PUs per PE), ``beta`` (MACs
  per PU), ``sparse_capable`` (S vs D), ``tile_regs``, ``load_ports``, ``load_port_bytes``,
  ``clock_ghz``, ``l2_bytes_per_cycle``;
* kernel: ``blocking`` (auto or manual ``b_m`` x ``b_n``), ``loop_order``;
* sparsity: ``sparsity`` (one N:M for all layers, row-wise N:M of unstructured weights at
  ``density`` with ``row_chunk``, or the workload's per-layer N), ``nm_n``, ``nm_m``.

Constraints between them (violation > 0 is infeasible):

* ``pattern``: an S engine runs N:4 only (2-bit metadata, 4:1 mux); other group sizes are
  infeasible (D engines and RASA-SM run any pattern dense);
* ``register_budget``: manual blocking needs ``b_m + g_B b_n + b_m b_n <= tile_regs`` with
  ``g_B`` = 1, 2, 4 tregs per B group (treg, ureg, vreg) for dense, 2:4 and 1:4/row-wise
  (per-layer mode: worst case 4).

Every parameter is the model's own declaration (doc, unit, default), narrowed here to a finite
grid so the space can be swept; memory parameters (``l2_kib``, ``dram_gbps``) are pinned to the
model's defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from costmodels.sparse_gemm import SparseGemmModel
from costmodels.sparse_gemm._constraints import (
    b_tregs_per_group,
    register_violation,
    unsupported_pattern,
)
from search_spaces._params import Condition, Fixed, Param
from search_spaces._space import Constraint, Space


__all__ = ["space"]

_VEGETA = Condition("engine", ("vegeta",))
_MANUAL = Condition("blocking", ("manual",))
_NM = Condition("sparsity", ("nm",))
_ROWWISE = Condition("sparsity", ("rowwise",))


def _pattern(b: Mapping[str, np.ndarray]) -> np.ndarray:
    return unsupported_pattern(
        b["engine"], b["sparse_capable"], b["sparsity"], b["nm_n"], b["nm_m"]
    )


def _registers(b: Mapping[str, np.ndarray]) -> np.ndarray:
    g_b = b_tregs_per_group(b["engine"], b["sparse_capable"], b["sparsity"], b["nm_n"], b["nm_m"])
    return register_violation(b["blocking"], b["b_m"], b["b_n"], g_b, b["tile_regs"])


def _param(name: str, condition: Condition | None = None, **narrow: Any) -> Param:
    """The model's declaration of input ``name`` (doc, unit, default), narrowed for search."""
    declared = SparseGemmModel.input(name)
    param = replace(declared, **narrow) if narrow else declared
    return param.with_condition(condition)


def _pinned(name: str) -> Param:
    declared = SparseGemmModel.input(name)
    return Fixed(name, declared.default, unit=declared.unit, doc=declared.doc)


def space() -> Space:
    return Space(
        params=(
            _param("engine"),
            _param("alpha", _VEGETA),
            _param("beta", _VEGETA),
            _param("sparse_capable", _VEGETA),
            _param("tile_regs"),
            _param("load_ports"),
            _param("load_port_bytes"),
            _param("clock_ghz", low=1.5, high=3.0, steps=4),
            _param("l2_bytes_per_cycle", choices=(64, 128)),
            _param("blocking"),
            _param("b_m", _MANUAL, high=4),
            _param("b_n", _MANUAL, high=4),
            _param("loop_order"),
            _param("sparsity"),
            _param("nm_n", _NM, high=4),
            _param("nm_m", _NM, choices=(2, 4, 8)),
            _param("density", _ROWWISE, low=0.05, high=0.5, steps=4, log=True),
            _param("row_chunk", _ROWWISE),
            _pinned("l2_kib"),
            _pinned("dram_gbps"),
        ),
        constraints=(
            Constraint(
                "pattern",
                _pattern,
                ("engine", "sparse_capable", "sparsity", "nm_n", "nm_m"),
                "an S engine runs N:4 only (or N = M, dense)",
            ),
            Constraint(
                "register_budget",
                _registers,
                (
                    "engine",
                    "sparse_capable",
                    "sparsity",
                    "nm_n",
                    "nm_m",
                    "blocking",
                    "b_m",
                    "b_n",
                    "tile_regs",
                ),
                "b_m + g_B b_n + b_m b_n <= tile_regs for manual blocking",
            ),
        ),
        name="vegeta",
        doc="VEGETA-like sparse tile-GEMM engine, kernel and weight sparsity",
    )
