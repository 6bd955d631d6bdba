"""A small analytical demo model with a known Pareto front (ZDT1 in two variables).

Equations (Zitzler, Deb & Thiele, "Comparison of multiobjective evolutionary algorithms",
Evolutionary Computation 8(2), 2000, problem ZDT1, here with one distance variable)::

    f1 = x
    g  = 1 + 9 * y + 0.5 * level
    f2 = g * (1 - sqrt(f1 / g))

With ``x, y`` in ``[0, 1]`` and ``level`` in ``{0, 1, 2, 3}`` the Pareto-optimal set is
``y = 0, level = 0`` and the front is ``f2 = 1 - sqrt(f1)``; the hypervolume it dominates
inside the reference point ``(1, 1)`` is ``1 - (1 - 2/3) = 2/3``. The constraint
``budget = x + y - 1.5`` cuts off a corner far from the front, so constrained and
unconstrained fronts agree.

Options exist to exercise the engine: ``delay_s`` makes each point cost that long (for executor
benchmarks), ``fail_above`` returns NaN for ``x`` above it, ``raise_above`` raises, and
``report_steps`` streams intermediate values (for pruning tests), and ``die_above`` ends the
worker process outright (``os._exit``) for ``x`` above it, unless the file ``die_marker`` names
already exists (the first death creates it, atomically), to test how executors survive dead
workers; with ``die_node`` the worker first kills its parent process (a Ray worker's raylet),
taking its whole node down, to test how executors survive dead nodes.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping

import numpy as np

from costmodels._protocol import CostModel, EvalContext, Output, PruneRequested
from search_spaces import Float, Int


__all__ = ["DemoModel", "front_f2"]


def front_f2(f1: np.ndarray) -> np.ndarray:
    """The analytical Pareto front: ``f2 = 1 - sqrt(f1)``."""
    return 1.0 - np.sqrt(f1)


class DemoModel(CostModel):
    name = "demo"
    version = "1"
    doc = "ZDT1 toy with a known front; options to inject delays, NaNs, errors and reports."
    inputs = (
        Float("x", 0.0, 1.0, default_value=0.5, doc="position along the front"),
        Float("y", 0.0, 1.0, default_value=0.0, doc="distance from the front"),
        Int("level", 0, 3, default_value=0, doc="discrete distance offset"),
    )
    outputs = (
        Output("f1", "", "minimize", "first ZDT1 objective"),
        Output("f2", "", "minimize", "second ZDT1 objective"),
        Output("budget", "", None, "x + y - 1.5 (<= 0 feasible)"),
    )

    def __init__(
        self,
        delay_s: float = 0.0,
        fail_above: float | None = None,
        raise_above: float | None = None,
        report_steps: int = 0,
        expensive: bool = False,
        die_above: float | None = None,
        die_marker: str | None = None,
        die_node: bool = False,
    ) -> None:
        self.delay_s = float(delay_s)
        self.fail_above = fail_above
        self.raise_above = raise_above
        self.report_steps = int(report_steps)
        self.expensive = bool(expensive)  # type: ignore[misc]
        self.die_above = die_above
        self.die_marker = die_marker
        self.die_node = bool(die_node)

    def _first_death(self) -> bool:
        """Whether this call is to die: always without ``die_marker``; with it, only the one
        call that creates the marker (an exclusive create, so of two workers evaluating at
        once exactly one dies, however their steps interleave)."""
        if self.die_marker is None:
            return True
        try:
            os.close(os.open(self.die_marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return False
        return True

    def evaluate(
        self, batch: Mapping[str, np.ndarray], context: EvalContext | None = None
    ) -> dict[str, np.ndarray]:
        x = np.asarray(batch["x"], dtype=np.float64)
        y = np.asarray(batch["y"], dtype=np.float64)
        level = np.asarray(batch["level"], dtype=np.float64)
        if self.raise_above is not None and (x > self.raise_above).any():
            raise RuntimeError(f"demo model asked to raise for x > {self.raise_above}")
        if self.die_above is not None and (x > self.die_above).any() and self._first_death():
            if self.die_node:
                os.kill(os.getppid(), signal.SIGKILL)
            os._exit(17)
        if self.delay_s:
            time.sleep(self.delay_s * len(x))
        g = 1.0 + 9.0 * y + 0.5 * level
        f1 = x
        f2 = g * (1.0 - np.sqrt(f1 / g))
        if context is not None and self.report_steps:
            for step in range(self.report_steps):
                # A curve that approaches the final value, as a training loss would.
                frac = (step + 1) / self.report_steps
                context.report(step, {"f2": float(np.mean(f2) * (2.0 - frac))})
                if context.should_prune():
                    raise PruneRequested(f"pruned at step {step}")
        if self.fail_above is not None:
            f2 = np.where(x > self.fail_above, np.nan, f2)
        return {"f1": f1, "f2": f2, "budget": x + y - 1.5}
