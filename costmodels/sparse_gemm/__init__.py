"""VEGETA-like sparse tile-GEMM engines: a functional engine and an analytical cost model.

Functional engine (vectorized numpy): :func:`nm_prune`, :func:`compress` /
:class:`CompressedNM` (values + packed ``ceil(log2 M)``-bit metadata, exact bytes), :func:`spmm`
(GEMM from the compressed form), :func:`to_rowwise_nm` / :func:`rowwise_spmm` (row-wise N:M),
:func:`tile_trace` / :func:`trace_counts` (tile-instruction traces).

Cost model: :class:`SparseGemmModel` (registry name ``sparse_gemm``), timing of VEGETA-D/S-alpha-
beta and RASA-SM vectorized over design points x layers; equations in ``_timing``, constants in
``_constants``, published anchors in ``_anchors``.
"""

from __future__ import annotations

from costmodels.sparse_gemm._bf16 import bf16_round
from costmodels.sparse_gemm._compression import CompressedNM, compress
from costmodels.sparse_gemm._model import SparseGemmModel
from costmodels.sparse_gemm._pruning import nm_mask, nm_prune
from costmodels.sparse_gemm._rowwise import (
    RowwiseNM,
    expected_rowwise_n,
    rowwise_spmm,
    to_rowwise_nm,
)
from costmodels.sparse_gemm._spmm import spmm
from costmodels.sparse_gemm._workloads import Workload, WorkloadError, load_workload


__all__ = [
    "CompressedNM",
    "RowwiseNM",
    "SparseGemmModel",
    "Workload",
    "WorkloadError",
    "bf16_round",
    "compress",
    "expected_rowwise_n",
    "load_workload",
    "nm_mask",
    "nm_prune",
    "rowwise_spmm",
    "spmm",
    "to_rowwise_nm",
]
