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

Memory parameters (``l2_kib``, ``dram_gbps``) are pinned to the model's defaults; a study can
unpin them with an override.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from costmodels.sparse_gemm._constraints import (
    b_tregs_per_group,
    register_violation,
    unsupported_pattern,
)
from search_spaces._params import Categorical, Condition, Fixed, Float, Int
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


def space() -> Space:
    return Space(
        params=(
            Categorical(
                "engine",
                ("vegeta", "rasa_sm"),
                default_value="vegeta",
                doc="VEGETA-{D,S}-alpha-beta or the RASA-SM baseline",
            ),
            Categorical(
                "alpha",
                (1, 2, 4, 8, 16),
                default_value=16,
                condition=_VEGETA,
                doc="PUs per PE sharing one broadcast B input",
            ),
            Categorical(
                "beta",
                (1, 2, 4),
                default_value=2,
                condition=_VEGETA,
                doc="MACs per PU (adder-tree width)",
            ),
            Categorical(
                "sparse_capable",
                (True, False),
                default_value=True,
                condition=_VEGETA,
                doc="S engine (N:4 sparse) or D engine (dense only)",
            ),
            Categorical("tile_regs", (8, 16, 32), default_value=8, doc="1 KiB tile registers"),
            Int("load_ports", 1, 4, default_value=2, doc="tile-load uops per cycle"),
            Categorical(
                "load_port_bytes",
                (32, 64, 128),
                default_value=128,
                unit="B",
                doc="bytes per tile-load uop",
            ),
            Float(
                "clock_ghz",
                1.5,
                3.0,
                steps=4,
                default_value=2.0,
                unit="GHz",
                doc="core and engine clock",
            ),
            Categorical(
                "l2_bytes_per_cycle",
                (64, 128),
                default_value=128,
                unit="B/cycle",
                doc="L2 -> L1 fill bandwidth",
            ),
            Categorical(
                "blocking",
                ("auto", "manual"),
                default_value="auto",
                doc="register blocking: best per pattern, or b_m x b_n",
            ),
            Int("b_m", 1, 4, default_value=2, condition=_MANUAL, doc="A tiles in registers"),
            Int("b_n", 1, 4, default_value=1, condition=_MANUAL, doc="B groups in registers"),
            Categorical(
                "loop_order",
                ("nm", "mn"),
                default_value="nm",
                doc="outer loops over N blocks then M blocks, or the reverse",
            ),
            Categorical(
                "sparsity",
                ("nm", "rowwise", "per_layer"),
                default_value="nm",
                doc="weight sparsity: one N:M, row-wise N:M, or per layer",
            ),
            Int("nm_n", 1, 4, default_value=2, condition=_NM, doc="N of N:M"),
            Categorical("nm_m", (2, 4, 8), default_value=4, condition=_NM, doc="M of N:M"),
            Float(
                "density",
                0.05,
                0.5,
                steps=4,
                log=True,
                default_value=0.05,
                condition=_ROWWISE,
                doc="nonzero fraction of unstructured weights",
            ),
            Categorical(
                "row_chunk",
                (16, 32, 64, 128),
                default_value=32,
                condition=_ROWWISE,
                doc="row-chunk length sharing one N",
            ),
            Fixed("l2_kib", 2048, unit="KiB", doc="L2 size"),
            Fixed("dram_gbps", 153.6, unit="GB/s", doc="DRAM bandwidth of the core"),
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
