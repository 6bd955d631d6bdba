"""Search space of the demo model (ZDT1 toy): ``x``, ``y`` in [0, 1] and ``level`` in 0..3."""

from __future__ import annotations

from search_spaces._params import Float, Int
from search_spaces._space import Constraint, Space


def space() -> Space:
    return Space(
        params=(
            Float("x", 0.0, 1.0, doc="position along the front"),
            Float("y", 0.0, 1.0, doc="distance from the front"),
            Int("level", 0, 3, doc="discrete distance offset"),
        ),
        constraints=(
            Constraint("budget", lambda b: b["x"] + b["y"] - 1.5, ("x", "y"), "x + y <= 1.5"),
        ),
        name="demo",
        doc="ZDT1 toy with a known Pareto front",
    )
