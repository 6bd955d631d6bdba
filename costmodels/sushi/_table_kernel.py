"""Per-point serving tables gathered from per-setting parts, compiled (no ``[P, ...]``
temporaries); the element-wise operations and sums of :mod:`._fast_tables`, value for value.

* :func:`base_latency`: the no-PB latency of each distinct (compute, overhead, bytes, spills,
  bandwidth) setting, ``sum_l where(present, (w + a_off) / B + (tau + t_c), 0)`` summed over the
  slot axis in numpy's pairwise order (``SlotTerms.serial_ms`` of the reference);
* :func:`pb_point_tables`: per point, from its PB setting's hits ``H`` ``[S, G]``, held totals
  and switch parameters: ``hit = H b`` (``b`` bytes per weight), ``L = L_0 - hit / B``,
  ``offchip = (W - hit) + A_off``, switch bytes ``switch b`` (from an empty PB only, loading
  everything held, for points whose PB never changes) and held bytes ``held b``.

Equations and sources: :mod:`._accelerator` and :mod:`._cache` (module docstrings there).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from costmodels.sushi._serve_kernel import pairwise_sum


__all__ = ["base_latency", "pb_point_tables"]


@njit(cache=True, nogil=True, error_model="numpy")
def base_latency(
    w_sl: np.ndarray,
    a_off: np.ndarray,
    t_c: np.ndarray,
    present: np.ndarray,
    tau_ms: np.ndarray,
    bw: np.ndarray,
    w_inv: np.ndarray,
    a_inv: np.ndarray,
    c_inv: np.ndarray,
    heads: np.ndarray,
    out: np.ndarray,
) -> None:
    """No-PB latency ``out[j, s]`` (ms) of the setting of point ``heads[j]``.

    Args:
        w_sl: Weight bytes per slot ``[U_w, S, L]``; ``a_off`` spilled activation bytes
            ``[U_a, S, L]``; ``t_c`` compute time per slot ``[U_c, S, L]`` (ms).
        present: Slots a SubNet has ``[S, L]``.
        tau_ms: Per-layer overhead ``[P]``; ``bw`` bytes per ms ``[P]``.
        w_inv, a_inv, c_inv: Each point's row of ``w_sl``, ``a_off``, ``t_c`` ``[P]``.
        heads: One point per distinct setting ``[B]``.
        out: ``[B, S]``, filled.
    """
    n_sub, n_slots = present.shape
    slot_ms = np.empty(n_slots)
    for j in range(heads.shape[0]):
        p = heads[j]
        w, a, c = w_inv[p], a_inv[p], c_inv[p]
        for s in range(n_sub):
            for sl in range(n_slots):
                if present[s, sl]:
                    slot_ms[sl] = (w_sl[w, s, sl] + a_off[a, s, sl]) / bw[p] + (
                        tau_ms[p] + t_c[c, s, sl]
                    )
                else:
                    slot_ms[sl] = 0.0
            out[j, s] = 0.0 + pairwise_sum(slot_ms, 0, n_slots)


@njit(cache=True, nogil=True, error_model="numpy")
def pb_point_tables(
    hits_u: np.ndarray,
    held_u: np.ndarray,
    switch_u: np.ndarray,
    inv: np.ndarray,
    switching: np.ndarray,
    bpw: np.ndarray,
    bw: np.ndarray,
    base_ms: np.ndarray,
    weight_bytes: np.ndarray,
    a_off_sum: np.ndarray,
    hit_bytes: np.ndarray,
    lat: np.ndarray,
    offchip: np.ndarray,
    switch_bytes: np.ndarray,
    held_bytes: np.ndarray,
) -> None:
    """Per-point PB tables from the per-setting ones (outputs filled in place).

    Args:
        hits_u: Hit parameters ``[U, S, G]`` per PB setting; ``held_u`` held totals
            ``[U, G]``; ``switch_u`` switch parameters ``[U, G, G]`` (used where
            ``switching``).
        inv: Each point's PB setting ``[P]``; ``switching`` whether its PB may change.
        bpw: Bytes per weight ``[P]``; ``bw`` bytes per ms ``[P]``.
        base_ms: No-PB latency ``[P, S]``; ``weight_bytes`` ``[P, S]``; ``a_off_sum``
            spilled activation bytes ``[P, S]``.
        hit_bytes, lat, offchip: Out ``[P, S, G]``; ``switch_bytes`` out ``[P, G, G]``;
            ``held_bytes`` out ``[P, G]``.
    """
    n_pts, n_sub, n_cand = lat.shape
    for p in range(n_pts):
        u = inv[p]
        b = bpw[p]
        for s in range(n_sub):
            for g in range(n_cand):
                h = hits_u[u, s, g] * b
                hit_bytes[p, s, g] = h
                lat[p, s, g] = base_ms[p, s] - h / bw[p]
                offchip[p, s, g] = (weight_bytes[p, s] - h) + a_off_sum[p, s]
        for g in range(n_cand):
            held_bytes[p, g] = held_u[u, g] * b
        if switching[p]:
            for g in range(n_cand):
                for h2 in range(n_cand):
                    switch_bytes[p, g, h2] = switch_u[u, g, h2] * b
        else:  # the PB is filled once, from empty: it loads everything it holds
            switch_bytes[p] = 0.0
            for h2 in range(n_cand):
                switch_bytes[p, n_cand - 1, h2] = held_u[u, h2] * b
