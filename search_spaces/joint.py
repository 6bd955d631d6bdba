"""The joint co-design space: an N:M sparse training recipe and the sparse-GEMM engine that runs
the sparsified model, sharing one N:M ratio.

Parameters (already namespaced; the study's model tables are ``nm`` and ``hw``):

* shared: ``sparsity.n`` and ``sparsity.m``, read by the training model as ``n``/``m`` and by
  the engine model as ``nm_n``/``nm_m`` (study files bind them);
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

from dataclasses import replace

from search_spaces import nm_sparsity, vegeta
from search_spaces._params import Categorical, Fixed, Int
from search_spaces._space import Space, union


__all__ = ["SHARED", "space"]

SHARED = (
    Int("sparsity.n", 1, 4, default_value=1, doc="kept weights per group (N of N:M)"),
    Categorical("sparsity.m", (4, 8, 16, 32), default_value=4, doc="group size (M of N:M)"),
)

_NM_RENAME = {"n": "sparsity.n", "m": "sparsity.m"}
_HW_RENAME = {"nm_n": "sparsity.n", "nm_m": "sparsity.m"}
_HW_DROPPED = ("density", "row_chunk")


def _without(space: Space, names: tuple[str, ...], pins: dict[str, object]) -> Space:
    params = []
    for p in space.params:
        if p.name in names:
            continue
        if p.name in pins:
            p = Fixed(p.name, pins[p.name], unit=p.unit, doc=p.doc)
        params.append(p)
    return replace(space, params=tuple(params))


def space() -> Space:
    nm = _without(nm_sparsity.space(), tuple(_NM_RENAME), {})
    hw = _without(vegeta.space(), tuple(_HW_RENAME) + _HW_DROPPED, {"sparsity": "nm"})
    return replace(
        union(
            Space(SHARED),
            nm.prefixed("nm", rename=_NM_RENAME),
            hw.prefixed("hw", rename=_HW_RENAME),
            name="joint",
        ),
        doc="N:M training recipe x sparse-GEMM engine, one shared N:M ratio",
    )
