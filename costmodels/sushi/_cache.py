"""SubGraph Stationary: what the persistent buffer (PB) holds, per-layer hits, switch cost.

A candidate SubGraph ``g`` is a SubNet configuration (a pool SubNet, the pool's common SubGraph,
or the empty SubGraph). The PB holds ``g``'s weights slot by slot in a *fill priority* order
until the capacity ``C`` (in parameters, ``C = PB bytes / bytes per weight``) is used up; the slot
at the boundary is held partially (a prefix of its weights). With ``c[p, g, l]`` the parameters
of slot ``l`` held at hardware point ``p`` (reference notes section 6, "Hits")::

    hit[p, s, g, l] = min(shared[s, g, l], c[p, g, l])
    H[p, s, g]      = sum_l hit[p, s, g, l]

``shared`` is the exact nested overlap (:func:`~costmodels.sushi._supernet.shared_params`). The
``min`` is exact for fully held slots and an upper bound for the one partial slot (exact for 1-D
prefixes, as the notes say). Because ``c`` is "full up to rank n, then one partial slot", ``H`` is
a gather from a cumulative sum in priority order: ``O(P S G)`` work, no ``[P, S, G, L]`` array.

Fill priorities (reference notes section 6 and 8):

* ``network_order``: stem first;
* ``reverse``: head first (the MBv3 head, 2.66 M parameters, is shared by every SubNet);
* ``bytes_per_mac``: highest parameters per MAC first (head, classifier, late 1x1 convs).

Switching the PB from ``g`` to ``h`` loads what ``h`` holds and ``g`` did not
(reference notes section 6, "SubGraph switch cost", refined to the exact nested overlap)::

    switch[p, g, h] = sum_l c[p, h, l] - min(c[p, h, l], c[p, g, l], shared[g, h, l])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from costmodels.sushi._supernet import LayerTable


__all__ = [
    "FILL_PRIORITIES",
    "Fill",
    "fill",
    "fill_order",
    "hit_per_slot",
    "hit_sum",
    "switch_params",
]

FILL_PRIORITIES = ("network_order", "reverse", "bytes_per_mac")


def fill_order(sub: LayerTable, priority: str) -> np.ndarray:
    """Slot order ``[G, L]`` in which each candidate's weights enter the PB."""
    g, n_slots = sub.out_ch.shape
    if priority == "network_order":
        return np.broadcast_to(np.arange(n_slots), (g, n_slots)).copy()
    if priority == "reverse":
        return np.broadcast_to(np.arange(n_slots)[::-1], (g, n_slots)).copy()
    if priority == "bytes_per_mac":
        params = sub.params.astype(np.float64)
        key = np.where(params > 0, params / np.maximum(sub.macs, 1), -np.inf)
        return np.argsort(-key, axis=1, kind="stable")
    raise ValueError(f"fill_priority={priority!r}: expected one of {', '.join(FILL_PRIORITIES)}")


@dataclass(frozen=True)
class Fill:
    """How the PB is filled with each candidate at each hardware point.

    Attributes:
        order: Slot order ``[G, L]``.
        params: Parameters per slot of each candidate ``[G, L]``.
        n_full: Slots (in ``order``) held completely ``[P, G]``.
        partial: Parameters held of the next slot ``[P, G]``.
    """

    order: np.ndarray
    params: np.ndarray
    n_full: np.ndarray
    partial: np.ndarray

    def held(self) -> np.ndarray:
        """Parameters held per slot ``c[p, g, l]`` (``[P, G, L]``)."""
        rank = np.argsort(self.order, axis=1)
        nf = self.n_full[:, :, None]
        return np.where(
            rank[None] < nf,
            self.params[None],
            np.where(rank[None] == nf, self.partial[:, :, None], 0.0),
        )

    def held_total(self) -> np.ndarray:
        """Parameters held in all ``[P, G]``."""
        ws = np.take_along_axis(self.params, self.order, axis=1)
        cum = np.concatenate([np.zeros((len(ws), 1)), np.cumsum(ws, axis=1)], axis=1)
        return cum[np.arange(len(ws))[None, :], self.n_full] + self.partial


def fill(params: np.ndarray, order: np.ndarray, capacity: np.ndarray) -> Fill:
    """Fill a PB of ``capacity`` parameters ``[P]`` with each candidate ``params`` ``[G, L]``."""
    params = np.asarray(params, dtype=np.float64)
    ws = np.take_along_axis(params, order, axis=1)
    cum = np.cumsum(ws, axis=1)
    cap = np.asarray(capacity, dtype=np.float64)[:, None, None]
    n_full = (cum[None] <= cap).sum(axis=2)  # cum is non-decreasing: a prefix count
    n_slots = params.shape[1]
    g_idx = np.arange(len(params))[None, :]
    prev = np.where(n_full > 0, cum[g_idx, np.maximum(n_full - 1, 0)], 0.0)
    nxt = np.where(n_full < n_slots, ws[g_idx, np.minimum(n_full, n_slots - 1)], 0.0)
    partial = np.clip(cap[:, :, 0] - prev, 0.0, nxt)
    return Fill(order, params, n_full, partial)


def hit_sum(shared: np.ndarray, f: Fill) -> np.ndarray:
    """Total hit parameters ``H[p, s, g]`` from ``shared`` ``[S, G, L]``."""
    s_count, g_count, n_slots = shared.shape
    sh = np.take_along_axis(shared.astype(np.float64), f.order[None], axis=2)
    pad = np.zeros((s_count, g_count, 1))
    cum = np.concatenate([pad, np.cumsum(sh, axis=2)], axis=2)  # [S, G, L+1]
    nxt = np.concatenate([sh, pad], axis=2)
    g_idx = np.arange(g_count)[None, :]
    full = cum.transpose(1, 2, 0)[g_idx, f.n_full]  # [P, G, S]
    part = np.minimum(nxt.transpose(1, 2, 0)[g_idx, f.n_full], f.partial[:, :, None])
    return (full + part).transpose(0, 2, 1)


def hit_per_slot(shared: np.ndarray, held: np.ndarray) -> np.ndarray:
    """Hits per slot ``[P, S, G, L]`` (for double buffering and breakdowns; memory heavy)."""
    return np.minimum(shared[None], held[:, None])


def switch_params(held: np.ndarray, shared_gg: np.ndarray) -> np.ndarray:
    """Parameters loaded to switch the PB from candidate ``g`` to ``h``, ``[P, G, G]``."""
    new = held[:, None, :, :]  # h
    old = held[:, :, None, :]  # g
    kept = np.minimum(np.minimum(new, old), shared_gg[None])
    return held.sum(axis=2)[:, None, :] - kept.sum(axis=3)
