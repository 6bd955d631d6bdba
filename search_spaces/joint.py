"""The joint co-design space: an N:M sparse training recipe and the sparse-GEMM engine that runs
the sparsified model, sharing one N:M ratio.

Parameters (already namespaced; the study's model tables are ``nm`` and ``hw``):

* shared: ``sparsity.n`` and ``sparsity.m``, read by the training model as ``n``/``m`` (study
  files bind them). They are *conditional*: active only under a sparse recipe, so a dense
  recipe carries no ratio and designs differing only in an inactive ratio are one design;
* derived: ``sparsity.engine_n`` and ``sparsity.engine_m``, the ratio the engine executes: the
  trained N:M under a sparse recipe, dense (4:4) under the dense recipe. The engine model reads
  them as ``nm_n``/``nm_m``;
* ``nm.*``: the recipe space of :mod:`search_spaces.nm_sparsity` without its ``n``/``m``;
* ``hw.*``: the engine space of :mod:`search_spaces.vegeta` with its sparsity mode pinned to
  one N:M for every layer (``hw.sparsity = "nm"``), so the ratio the recipe trains is the ratio
  the engine executes; the row-wise knobs, which only matter for unstructured weights, are left
  out.

Every constraint of both domains carries over, rewritten onto the shared names, so for example
an N:M the engine cannot run (an S engine runs N:4 only) is a violation, not an exception. The
space is designed for nested mode: Optuna proposes ``sparsity.*`` and ``nm.*`` (a proxy
training each), and an exhaustive sweep picks the engine under each proposal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from search_spaces import nm_sparsity, vegeta
from search_spaces._params import Categorical, Condition, Fixed, Int
from search_spaces._space import Derived, Space, union


__all__ = ["ENGINE_RATIO", "SHARED", "SPARSE_RECIPES", "conditional_ratio", "space", "without"]

SPARSE_RECIPES = ("srste", "ste", "mdgf_linear", "mdgf_exp", "sdgf_stepwise", "sdgf_geometric")
_SPARSE = Condition("nm.recipe", SPARSE_RECIPES)

# Declared unconditional; :func:`conditional_ratio` ties them to ``nm.recipe`` once the recipe
# is in the same space (a space checks that a condition's parent exists).
SHARED = (
    Int("sparsity.n", 1, 4, default_value=1,
        doc="kept weights per group (N of N:M); only under a sparse recipe"),
    Categorical("sparsity.m", (4, 8, 16, 32), default_value=4,
                doc="group size (M of N:M); only under a sparse recipe"),
)

# The engine's group when the weights are dense: N = M = 4 runs TILE_GEMM.
_DENSE_GROUP = 4


def _engine_n(b: Mapping[str, np.ndarray]) -> np.ndarray:
    sparse = np.isin(np.asarray(b["nm.recipe"]), SPARSE_RECIPES)
    return np.where(sparse, np.asarray(b["sparsity.n"], np.int64), _DENSE_GROUP)


def _engine_m(b: Mapping[str, np.ndarray]) -> np.ndarray:
    sparse = np.isin(np.asarray(b["nm.recipe"]), SPARSE_RECIPES)
    return np.where(sparse, np.asarray(b["sparsity.m"], np.int64), _DENSE_GROUP)


ENGINE_RATIO = (
    Derived("sparsity.engine_n", _engine_n, ("nm.recipe", "sparsity.n"),
            doc="N the engine runs: the trained N, or 4 (dense) under the dense recipe"),
    Derived("sparsity.engine_m", _engine_m, ("nm.recipe", "sparsity.m"),
            doc="M the engine runs: the trained M, or 4 (dense) under the dense recipe"),
)

def conditional_ratio(space: Space) -> Space:
    """``space`` with the shared N:M active only under a sparse ``nm.recipe`` and the engine's
    ratio derived from it."""
    names = {p.name for p in SHARED}
    params = tuple(p.with_condition(_SPARSE) if p.name in names else p for p in space.params)
    return replace(space, params=params, derived=ENGINE_RATIO + space.derived)


_NM_RENAME = {"n": "sparsity.n", "m": "sparsity.m"}
_HW_RENAME = {"nm_n": "sparsity.engine_n", "nm_m": "sparsity.engine_m"}
_HW_DROPPED = ("density", "row_chunk")


def without(space: Space, names: tuple[str, ...], pins: Mapping[str, object]) -> Space:
    """``space`` without the parameters ``names`` and with those in ``pins`` fixed."""
    params = []
    for p in space.params:
        if p.name in names:
            continue
        if p.name in pins:
            p = Fixed(p.name, pins[p.name], unit=p.unit, doc=p.doc)
        params.append(p)
    return replace(space, params=tuple(params))


def space() -> Space:
    nm = without(nm_sparsity.space(), tuple(_NM_RENAME), {})
    hw = without(vegeta.space(), tuple(_HW_RENAME) + _HW_DROPPED, {"sparsity": "nm"})
    joint = union(
        Space(SHARED),
        nm.prefixed("nm", rename=_NM_RENAME),
        hw.prefixed("hw", rename=_HW_RENAME),
        name="joint",
    )
    return replace(conditional_ratio(joint),
                   doc="N:M training recipe x sparse-GEMM engine, one shared N:M ratio")
