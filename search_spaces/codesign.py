"""The four-layer co-design space: N:M training recipe, sparse-GEMM engine, SUSHI-like serving
and the training cluster, sharing one N:M ratio and one workload (ViT-B/16).

Parameters (namespaced for the model tables of ``dse/studies/codesign.toml``):

* shared: ``sparsity.n`` / ``sparsity.m``, active only under a sparse ``nm.recipe`` (else
  4:4, which the engine runs dense), as in :mod:`search_spaces.joint`;
* ``nm.*``: the recipe space of :mod:`search_spaces.nm_sparsity`, with the deployed format
  pinned to the engine's (16-bit values, index metadata), so the bytes the recipe accounts are
  the bytes the engine stores;
* ``nmd.recipe``: pinned to ``dense``: the dense run of the same proxy, the reference of the
  accuracy link (one training per study, memoized);
* ``hw.*``: the engine space of :mod:`search_spaces.vegeta` on one N:M for every layer, without
  its pattern constraint: the engine model stores a ratio it cannot run natively in the
  fastest lossless encoding it has (option ``promote_patterns``), so an unsupported ratio costs
  speed, not feasibility;
* ``hwd.*``: the same engine on dense weights (``nm_n = nm_m = 4``); the study binds its other
  inputs to ``hw.*``;
* ``sushi.*``: the serving space of :mod:`search_spaces.sushi`;
* ``cl.*``: the provisioning x parallelism space of :mod:`search_spaces.comet`.

Every constraint of the domains carries over on the namespaced names. The space is meant for
nested mode: Optuna proposes ``sparsity.*`` and ``nm.*`` (one proxy training each) and an
exhaustive sweep picks the engine, the server and the cluster under each proposal.
"""

from __future__ import annotations

from dataclasses import replace

from search_spaces import comet, nm_sparsity, sushi, vegeta
from search_spaces._params import Fixed
from search_spaces._space import Space, union
from search_spaces.joint import SHARED, conditional_ratio, without


__all__ = ["space"]

_NM_RENAME = {"n": "sparsity.n", "m": "sparsity.m"}
_HW_RENAME = {"nm_n": "sparsity.n", "nm_m": "sparsity.m"}
# The engine's stored format: bf16 values with 2-bit indices per kept value of an N:4 group.
_DEPLOYED_FORMAT = {"value_bits": 16, "metadata_format": "index"}


def _engine() -> Space:
    hw = without(vegeta.space(), ("nm_n", "nm_m", "density", "row_chunk"), {"sparsity": "nm"})
    return replace(hw, constraints=tuple(c for c in hw.constraints if c.name != "pattern"))


def space() -> Space:
    nm = without(nm_sparsity.space(), tuple(_NM_RENAME), _DEPLOYED_FORMAT)
    dense_proxy = Space((Fixed("recipe", "dense", doc="the dense run of the same proxy"),))
    dense_engine = Space((
        Fixed("nm_n", 4, doc="dense weights on the same engine (4:4 runs TILE_GEMM)"),
        Fixed("nm_m", 4, doc="dense weights on the same engine"),
        Fixed("sparsity", "nm", doc="one N:M for every layer"),
    ))
    joint = union(
        Space(SHARED),
        nm.prefixed("nm", rename=_NM_RENAME),
        dense_proxy.prefixed("nmd"),
        _engine().prefixed("hw", rename=_HW_RENAME),
        dense_engine.prefixed("hwd"),
        sushi.space().prefixed("sushi"),
        comet.space().prefixed("cl"),
        name="codesign",
    )
    return replace(
        conditional_ratio(joint),
        doc="N:M recipe x sparse-GEMM engine x SUSHI serving x training cluster, one N:M ratio",
    )
