"""The joint co-design space: an N:M sparse training recipe and the sparse-GEMM engine that runs
the sparsified model, sharing one N:M ratio.

Parameters (already namespaced; the study's model tables are ``nm`` and ``hw``):

* shared: ``sparsity.n`` and ``sparsity.m``, read by the training model as ``n``/``m`` and by
  the engine model as ``nm_n``/``nm_m`` (study files bind them). They are *conditional*: active
  only under a sparse recipe, so a dense recipe carries no ratio and designs differing only in
  an inactive ratio are one design. An inactive ratio takes its default 4:4 (every weight
  kept), which is what the engine then runs: dense weights;
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

from search_spaces import nm_sparsity, vegeta
from search_spaces._params import Categorical, Condition, Fixed, Int
from search_spaces._space import Space, union


__all__ = ["SHARED", "SPARSE_RECIPES", "conditional_ratio", "space", "without"]

SPARSE_RECIPES = ("srste", "ste", "mdgf_linear", "mdgf_exp", "sdgf_stepwise", "sdgf_geometric")
_SPARSE = Condition("nm.recipe", SPARSE_RECIPES)

# Declared unconditional; :func:`conditional_ratio` ties them to ``nm.recipe`` once the recipe
# is in the same space (a space checks that a condition's parent exists). The defaults, what an
# inactive ratio takes, are 4:4: every weight kept, which the engine runs dense (TILE_GEMM).
SHARED = (
    Int("sparsity.n", 1, 4, default_value=4,
        doc="kept weights per group (N of N:M); only under a sparse recipe (else 4:4, dense)"),
    Categorical("sparsity.m", (4, 8, 16, 32), default_value=4,
                doc="group size (M of N:M); only under a sparse recipe (else 4:4, dense)"),
)


def conditional_ratio(space: Space) -> Space:
    """``space`` with the shared N:M active only under a sparse ``nm.recipe``."""
    names = {p.name for p in SHARED}
    params = tuple(p.with_condition(_SPARSE) if p.name in names else p for p in space.params)
    return replace(space, params=params)


_NM_RENAME = {"n": "sparsity.n", "m": "sparsity.m"}
_HW_RENAME = {"nm_n": "sparsity.n", "nm_m": "sparsity.m"}
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
