"""Pruning of expensive trials from their intermediate values, on the driver.

Optuna's own pruners serve single-objective studies only (``Trial.report`` is not supported with
several objectives), yet a proxy training is usually one stage of a multi-objective study. So the
driver applies a median rule itself: a running trial whose intermediate ``metric`` at step ``s``
is worse than the median of the finished trials at step ``s`` is stopped, after
``n_startup_trials`` finished trials and ``n_warmup_steps`` steps. The rule reads the curves that
every finished trial stores in its ``dse.curve`` attribute, so it survives a resume.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np


__all__ = ["MedianPruner", "NoPruner", "PrunerSpec"]


@dataclass(frozen=True)
class PrunerSpec:
    name: str = "none"  # none | median
    metric: str = ""
    direction: str = "maximize"
    n_startup_trials: int = 5
    n_warmup_steps: int = 0


@dataclass
class NoPruner:
    """Records curves, never prunes."""

    curves: dict[int, list[tuple[int, float]]] = field(default_factory=lambda: defaultdict(list))

    def observe(self, key: int, step: int, values: Mapping[str, float]) -> None:
        for v in values.values():
            self.curves[key].append((int(step), float(v)))
            break

    def should_prune(self, key: int) -> bool:
        return False

    def finish(self, key: int) -> list[tuple[int, float]]:
        return self.curves.pop(key, [])

    def add_history(self, curve: list[tuple[int, float]]) -> None:
        pass


class MedianPruner(NoPruner):
    """Median stopping rule over the finished trials' curves."""

    def __init__(self, spec: PrunerSpec) -> None:
        super().__init__()
        self.spec = spec
        self._history: dict[int, list[float]] = defaultdict(list)
        self._n_finished = 0
        self._decided: set[int] = set()

    def observe(self, key: int, step: int, values: Mapping[str, float]) -> None:
        if self.spec.metric in values:
            v = float(values[self.spec.metric])
        else:
            v = float(next(iter(values.values())))
        self.curves[key].append((int(step), v))
        if self._n_finished < self.spec.n_startup_trials or step < self.spec.n_warmup_steps:
            return
        past = self._history.get(int(step))
        if not past or not np.isfinite(v):
            if not np.isfinite(v):
                self._decided.add(key)
            return
        median = float(np.median(past))
        worse = v < median if self.spec.direction == "maximize" else v > median
        if worse:
            self._decided.add(key)

    def should_prune(self, key: int) -> bool:
        return key in self._decided

    def finish(self, key: int) -> list[tuple[int, float]]:
        self._decided.discard(key)
        return self.curves.pop(key, [])

    def add_history(self, curve: list[tuple[int, float]]) -> None:
        """Record a finished trial's curve (completed trials only)."""
        for step, v in curve:
            self._history[int(step)].append(float(v))
        self._n_finished += 1


def make_pruner(spec: PrunerSpec) -> NoPruner:
    return MedianPruner(spec) if spec.name == "median" else NoPruner()
