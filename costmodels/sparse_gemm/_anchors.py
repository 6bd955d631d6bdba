"""Published numbers the model reproduces, computed live from the model's equations.

VEGETA abstract (HPCA 2023, arXiv 2302.08687): a VEGETA engine over RASA-SM achieves 1.09x
(dense, 4:4), 2.20x (2:4), 3.74x (1:4) and 3.28x (unstructured, 95 % sparsity, through
row-wise N:M). The engine is taken to be VEGETA-S-16-2 ([unverified] in the reference notes),
the workload the shipped layer set, the mean the ratio of summed GEMM time.

A fifth number comes from a reading note of the paper's evaluation (hackmd.io/@nctu-cas-lab/
HkYmAoQGT): "Row-wise achieves 2.36x and 3.28x at 90% and 95% sparsity degree".

One constant is fitted: the write-back latency ``t_wb`` (``WRITEBACK_CYCLES_FITTED``), on the
dense number alone (1.09x: :func:`fit_writeback` picks the grid value with the smallest
relative error). Dense is the number ``t_wb`` moves most directly (RASA-SM is dependency-bound
with ``L = 63 + t_wb`` against 4 x 16 issue cycles per block, VEGETA-S-16-2 compute-bound), and
the one that exercises no sparse path. The 2:4, 1:4 and the two unstructured numbers are then
held out: ``kind = "held_out"`` in ``dse validate``, ``"fitted"`` for dense only. The 90 %
number is missed by about +10 % (see docs/models/sparse_gemm.md): with i.i.d. nonzeros and
``row_chunk = 32`` the model's row-wise speed-up falls more slowly with density than the
paper's.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from costmodels._protocol import Anchor


if TYPE_CHECKING:
    from costmodels.sparse_gemm._model import SparseGemmModel

__all__ = ["HEADLINE", "Headline", "fit_writeback", "headline_anchors", "headline_speedups"]

SOURCE = "VEGETA, HPCA 2023 (arXiv 2302.08687), abstract"
SOURCE_90 = "VEGETA, HPCA 2023, evaluation, as quoted by hackmd.io/@nctu-cas-lab/HkYmAoQGT"


@dataclass(frozen=True)
class Headline:
    """One published speed-up and the design point that reproduces it."""

    name: str
    published: float
    params: dict[str, Any]
    fitted: bool  # used to fit WRITEBACK_CYCLES_FITTED
    tolerance: float
    source: str = SOURCE
    # A miss the docs explain (docs/models/sparse_gemm.md, section 6): reported, not tuned away.
    expected_miss: bool = False
    note: str = "not used in the fit"


_ENGINE = {"engine": "vegeta", "alpha": 16, "beta": 2, "sparse_capable": True}
HEADLINE = (
    Headline(
        "S-16-2 / RASA-SM, dense 4:4 (fits t_wb)",
        1.09,
        {**_ENGINE, "sparsity": "nm", "nm_n": 4, "nm_m": 4},
        True,
        0.05,
    ),
    Headline(
        "S-16-2 / RASA-SM, 2:4 (held out)",
        2.20,
        {**_ENGINE, "sparsity": "nm", "nm_n": 2, "nm_m": 4},
        False,
        0.05,
        note="not used in the fit; the default L2 fill bandwidth (128 B/cycle) was argued "
        "from it (at 64 B/cycle 2:4 would be L2-bound)",
    ),
    Headline(
        "S-16-2 / RASA-SM, 1:4 (held out)",
        3.74,
        {**_ENGINE, "sparsity": "nm", "nm_n": 1, "nm_m": 4},
        False,
        0.05,
    ),
    Headline(
        "S-16-2 / RASA-SM, 95% unstructured (held out)",
        3.28,
        {**_ENGINE, "sparsity": "rowwise", "density": 0.05, "row_chunk": 32},
        False,
        0.05,
    ),
    Headline(
        "S-16-2 / RASA-SM, 90% unstructured (held out)",
        2.36,
        {**_ENGINE, "sparsity": "rowwise", "density": 0.10, "row_chunk": 32},
        False,
        0.10,  # the largest tolerance allowed; the model misses it (about +10.3 %)
        SOURCE_90,
        expected_miss=True,
    ),
)


def _reference_model(model: SparseGemmModel | None, writeback: float | None) -> SparseGemmModel:
    from costmodels.sparse_gemm._model import SparseGemmModel

    ref = SparseGemmModel(workload="all", aggregate="total")
    if model is not None:
        ref.writeback = model.writeback
        ref.rowwise_n = model.rowwise_n  # E[N]: closed form or measured on matrices
    if writeback is not None:
        ref = copy.copy(ref)
        ref.writeback = float(writeback)
    return ref


def headline_speedups(
    model: SparseGemmModel | None = None, writeback: float | None = None
) -> np.ndarray:
    """Modeled speed-ups of the headline cases (shipped workload, default core)."""
    ref = _reference_model(model, writeback)
    columns: dict[str, list[Any]] = {}
    for h in HEADLINE:
        for key in h.params:
            columns.setdefault(key, [])
    for h in HEADLINE:
        for key, col in columns.items():
            col.append(h.params.get(key, ref.input(key).default))
    out = ref.evaluate(ref.batch(None, **columns))
    return np.asarray(out["speedup_vs_rasa_sm"])


def fit_writeback(
    grid: np.ndarray | None = None, use: tuple[bool, ...] | None = None
) -> tuple[float, float]:
    """Refit ``t_wb``: the grid value minimizing the largest relative error of the fit anchors
    (by default the dense number alone).

    Args:
        grid: Candidate write-back latencies (cycles); default 0..12 in steps of 0.25.
        use: Which headline numbers to fit (default: those marked ``fitted``).

    Returns:
        ``(t_wb, worst relative error over the fitted numbers)``.
    """
    grid = np.arange(0.0, 12.01, 0.25) if grid is None else np.asarray(grid)
    use = tuple(h.fitted for h in HEADLINE) if use is None else use
    published = np.asarray([h.published for h in HEADLINE])
    mask = np.asarray(use)
    worst = np.asarray(
        [
            np.max(np.abs(headline_speedups(writeback=float(t))[mask] / published[mask] - 1.0))
            for t in grid
        ]
    )
    best = int(np.argmin(worst))
    return float(grid[best]), float(worst[best])


def headline_anchors(model: SparseGemmModel | None = None) -> list[Anchor]:
    """The published numbers as :class:`Anchor` records (modeled values computed live)."""
    modeled = headline_speedups(model)
    return [
        Anchor(
            model="sparse_gemm",
            anchor=h.name,
            source=h.source,
            published=h.published,
            modeled=float(v),
            tolerance=h.tolerance,
            note="t_wb is fitted on this number" if h.fitted else h.note,
            kind="fitted" if h.fitted else "held_out",
            expected_miss=h.expected_miss,
        )
        for h, v in zip(HEADLINE, modeled, strict=True)
    ]
