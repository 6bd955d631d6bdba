"""SubNet pools: the SubNets a server may pick from, with their layer tables and accuracies.

SUSHI serves only Pareto-frontier SubNets (project figure ``sushi_micro.png``, reference notes
section 1). A hardware-independent pool is built here as:

1. ``n_candidates`` seeded uniform random SubNets of the SuperNet (resolutions restricted to
   ``resolutions`` when given);
2. their non-dominated set on (MACs down, weight bytes down, top-1 up): MACs drive compute time,
   weight bytes drive fetch time, so a SubNet dominated on all three is never worth serving on
   any hardware point;
3. thinned to ``size`` SubNets evenly spaced in ``ln(MACs)`` along that front.

``kind="lab_table"`` takes the candidates from the shipped measured table (1,000 MBv3 SubNets,
k = 7, 224 px) with their *measured* accuracies; ``kind="random"`` skips the Pareto filter.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from costmodels.sushi._accuracy import LAB_TABLE, AccuracyModel, load_accuracy_table
from costmodels.sushi._supernet import (
    LayerTable,
    SubNetConfigs,
    common_subgraph,
    get_supernet,
)


__all__ = ["POOL_KINDS", "SubNetPool", "build_pool", "pareto_mask"]

POOL_KINDS = ("pareto", "random", "lab_table")


def pareto_mask(objs: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Non-dominated rows of ``objs`` ``[n, m]``, every objective minimized (NaN rows dropped).

    Pairwise comparison in chunks, ``O(n^2 m)`` work, ``O(chunk * n)`` memory.
    """
    objs = np.asarray(objs, dtype=np.float64)
    ok = ~np.any(np.isnan(objs), axis=1)
    mask = np.zeros(len(objs), dtype=bool)
    cand = np.flatnonzero(ok)
    pts = objs[cand]
    keep = np.ones(len(cand), dtype=bool)
    for start in range(0, len(cand), chunk):
        blk = pts[start : start + chunk]
        le = np.all(pts[None, :, :] <= blk[:, None, :], axis=2)
        lt = np.any(pts[None, :, :] < blk[:, None, :], axis=2)
        keep[start : start + chunk] = ~np.any(le & lt, axis=1)
    mask[cand[keep]] = True
    return mask


@dataclass(frozen=True, eq=False)  # identity semantics: pools are cached and hashed by id
class SubNetPool:
    """The servable SubNets and the candidate SubGraphs built from them.

    Attributes:
        configs: The ``S`` SubNets.
        layers: Their layer table.
        acc: Top-1 (%) ``[S]``.
        macs: Total MACs ``[S]``.
        subgraphs: Candidate SubGraph configs ``[G]``: every pool SubNet plus the pool's common
            SubGraph (element-wise minimum, last).
        subgraph_layers: Their layer table.
    """

    configs: SubNetConfigs
    layers: LayerTable
    acc: np.ndarray
    macs: np.ndarray
    subgraphs: SubNetConfigs
    subgraph_layers: LayerTable

    def __len__(self) -> int:
        return len(self.acc)

    @property
    def common_index(self) -> int:
        """Index of the pool's common SubGraph among the candidates."""
        return len(self.subgraphs) - 1


def _thin(macs: np.ndarray, size: int) -> np.ndarray:
    order = np.argsort(macs, kind="stable")
    if len(order) <= size:
        return order
    lm = np.log(macs[order])
    targets = np.linspace(lm[0], lm[-1], size)
    picked: list[int] = []
    free = np.ones(len(order), dtype=bool)
    for t in targets:
        # nearest unused front member to each evenly spaced ln(MACs) target
        dist = np.where(free, np.abs(lm - t), np.inf)
        j = int(np.argmin(dist))
        free[j] = False
        picked.append(j)
    return order[np.sort(np.asarray(picked))]


@lru_cache(maxsize=32)
def build_pool(
    supernet: str,
    size: int = 24,
    kind: str = "pareto",
    seed: int = 0,
    n_candidates: int = 2000,
    resolutions: tuple[int, ...] | None = None,
    accuracy: AccuracyModel | None = None,
) -> SubNetPool:
    """A pool of ``size`` SubNets (cached per arguments; pools are immutable).

    Raises:
        ValueError: naming the argument when the pool would be empty or an option is unknown.
    """
    if kind not in POOL_KINDS:
        raise ValueError(f"pool kind {kind!r}: expected one of {', '.join(POOL_KINDS)}")
    if size < 1:
        raise ValueError(f"pool size={size}: a SubNet pool needs at least one SubNet")
    sn = get_supernet(supernet)
    acc_model = accuracy if accuracy is not None else AccuracyModel()
    if kind == "lab_table":
        if sn.name != "ofa_mbv3_w1.0":
            raise ValueError(
                f"pool kind 'lab_table' needs supernet 'ofa_mbv3_w1.0' (the measured table's), "
                f"got {supernet!r}"
            )
        table = load_accuracy_table(LAB_TABLE)
        cand = table.configs
        cand_acc = table.top1
        cand_layers = sn.layers(cand)
    else:
        rng = np.random.default_rng(seed)
        cand = sn.sample(rng, n_candidates)
        if resolutions is not None:
            allowed = [r for r in resolutions if r in sn.resolutions]
            if not allowed:
                raise ValueError(
                    f"pool resolutions {list(resolutions)}: none is valid for {supernet} "
                    f"(expected some of {list(sn.resolutions)})"
                )
            cand = SubNetConfigs(
                cand.supernet,
                cand.d,
                cand.e,
                cand.k,
                cand.w,
                np.asarray(allowed)[rng.integers(0, len(allowed), len(cand))],
            )
        cand_layers = sn.layers(cand)
        cand_acc = acc_model.predict(cand, cand_layers.macs.sum(axis=1))
    macs = cand_layers.macs.sum(axis=1).astype(np.float64)
    params = cand_layers.params.sum(axis=1).astype(np.float64)
    if kind == "random":
        chosen = np.arange(min(size, len(cand)))
    else:
        front = np.flatnonzero(pareto_mask(np.column_stack([macs, params, -cand_acc])))
        chosen = front[_thin(macs[front], size)]
    if len(chosen) == 0:
        raise ValueError(f"SubNet pool of {supernet} ({kind}, size {size}) is empty")
    configs = cand.take(chosen)
    layers = sn.layers(configs)
    subgraphs = SubNetConfigs.concat([configs, common_subgraph(configs)])
    return SubNetPool(
        configs=configs,
        layers=layers,
        acc=np.asarray(cand_acc[chosen], dtype=np.float64),
        macs=macs[chosen],
        subgraphs=subgraphs,
        subgraph_layers=sn.layers(subgraphs),
    )
