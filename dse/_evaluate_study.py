"""Re-evaluating exported records of a whole study (``dse evaluate --study``).

Each record's flat parameters (``params`` of an export: trial params, nested inner params and
pinned values) are completed by the study's space exactly as a worker completes them, and the
whole pipeline runs on them: every model and every link, in one batch. The result per record has
the export's ``metrics`` keys (every model output), its ``constraints`` and feasibility, written
the way export writes them, so an exported record and its re-evaluation compare equal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dse._errors import DseError
from dse._export import _clean as clean_value
from dse._problem import Problem
from dse._spec import StudySpec


__all__ = ["evaluate_records"]


def _column(problem: Problem, name: str, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
    p = problem.space[name]
    values = []
    for r in records:
        v = r["params"].get(name, p.default)
        # CSV exports hold strings; parse them as the parameter does (a CLI value).
        values.append(p.coerce(v) if isinstance(v, str) and p.dtype.kind != "U" else v)
    return np.asarray(values, dtype=p.dtype)


def evaluate_records(
    spec: StudySpec, records: Sequence[Mapping[str, Any]], cache_dir: str | Path | None = None
) -> list[dict[str, Any]]:
    """Re-run the study's pipeline on exported records; one result per record.

    Raises:
        DseError: for a record without ``params`` or naming a parameter the study lacks.
    """
    problem = Problem(spec, cache_dir=cache_dir)
    names = set(problem.space.names)
    for r in records:
        params = r.get("params")
        if not isinstance(params, Mapping):
            raise DseError(f"record of trial {r.get('trial', '?')}: no 'params' table; expected "
                           f"a record written by 'dse export {spec.name}'")
        unknown = sorted(k for k in params if k not in names)
        if unknown:
            raise DseError(f"record of trial {r.get('trial', '?')}: parameter {unknown[0]!r} is "
                           f"not in study {spec.name!r}'s space")
    if not records:
        return []
    batch = {name: _column(problem, name, records) for name in problem.space.names}
    ev = problem.evaluate(batch)
    feasible = ev.feasible
    out = []
    for i, r in enumerate(records):
        metrics = {k: clean_value(float(ev.metrics[k][i])) for k in problem.pipeline.produced}
        for j, o in enumerate(problem.objectives):
            metrics[o.key] = clean_value(float(ev.values[i, j]))
        out.append({
            "study": spec.name,
            "trial": r.get("trial"),
            "metrics": metrics,
            "constraints": {k: clean_value(float(ev.G[i, j]))
                            for j, k in enumerate(ev.constraint_keys)},
            "feasible": bool(feasible[i]),
        })
    return out
