"""A one-line progress display: done/total, points per second, best values, hypervolume.

It writes to stderr at most every ``interval`` seconds and only when stderr is a terminal, so
logs and pipes stay clean; ``--quiet`` turns it off. The hypervolume is computed on objectives
normalized by the running ideal and nadir with reference point 1.1 in each (stated in the line),
so it is scale-free and cheap for any front the display can afford.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

import numpy as np

from dse._hypervolume import hypervolume
from dse._pareto import nondominated_mask


__all__ = ["Progress", "normalized_hypervolume"]


def normalized_hypervolume(F: np.ndarray) -> float:
    """Hypervolume of ``F`` (minimization) after scaling each objective to [0, 1], ref 1.1."""
    F = np.asarray(F, dtype=np.float64)
    F = F[np.isfinite(F).all(axis=1)] if F.size else F
    if len(F) == 0:
        return 0.0
    F = F[nondominated_mask(F)]
    lo, hi = F.min(axis=0), F.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return hypervolume((F - lo) / span, np.full(F.shape[1], 1.1))


class Progress:
    """Progress of a run; ``update`` is cheap when nothing is printed."""

    def __init__(
        self, total: int | None, labels: list[str], signs: list[float], quiet: bool = False,
        stream: TextIO | None = None, interval: float = 0.25, unit: str = "trials",
    ) -> None:
        self.stream = stream or sys.stderr
        self.enabled = not quiet and self.stream.isatty()
        self.total = total
        self.labels = labels
        self.signs = np.asarray(signs)
        self.interval = interval
        self.unit = unit
        self.t0 = time.perf_counter()
        self._last = 0.0
        self._front = np.empty((0, len(labels)))
        self.done = 0

    def add(self, F: np.ndarray, feasible: np.ndarray, count: int) -> None:
        self.done += count
        if self.enabled and len(F):
            good = F[feasible & np.isfinite(F).all(axis=1)]
            if len(good):
                both = np.concatenate([self._front, good])
                self._front = both[nondominated_mask(both)]
        self.show()

    def tick(self, count: int) -> None:
        """Count finished work without objective values (cheap when disabled)."""
        self.done += count
        if self.enabled:
            self.show()

    def show(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        rate = self.done / max(now - self.t0, 1e-9)
        total = f"/{self.total}" if self.total else ""
        parts = [f"{self.done}{total} {self.unit}", f"{rate:,.1f}/s"]
        if len(self._front):
            best = self._front.min(axis=0) * self.signs
            parts.append(" ".join(f"{lab}={v:.4g}" for lab, v in zip(self.labels, best)))
            if self._front.shape[1] > 1:
                parts.append(f"HV(norm, ref 1.1)={normalized_hypervolume(self._front):.4f}")
        self.stream.write("\r[dse] " + "  ".join(parts) + "\x1b[K")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.show(force=True)
            self.stream.write("\n")
            self.stream.flush()
