"""``dse status``: one summary per study in a storage (trials by state, objectives, front size,
best values, hypervolume under the study's fixed reference)."""

from __future__ import annotations

from typing import Any

import numpy as np

from dse._values import stored


__all__ = ["study_status"]


def study_status(storage_spec: str | None) -> list[dict[str, Any]]:
    """One summary per study in the storage (used by ``dse status``)."""
    import optuna
    from optuna.trial import TrialState

    from dse._storage import open_storage
    from dse._study import study_hypervolume

    storage = open_storage(storage_spec, create=False)
    out = []
    for s in storage.get_all_studies():
        study = optuna.load_study(study_name=s.study_name, storage=storage)
        trials = study.get_trials(deepcopy=False)
        counts = {st.name.lower(): 0 for st in TrialState}
        for t in trials:
            counts[t.state.name.lower()] += 1
        names = study.metric_names or [f"values_{i}" for i in range(len(study.directions))]
        dirs = [d.name.lower() for d in study.directions]
        hv, ref, best = study_hypervolume(study)
        signs = np.asarray([1.0 if d == "minimize" else -1.0 for d in dirs])
        F = np.asarray([t.values for t in best], dtype=float).reshape(-1, len(dirs)) * signs
        best_values = {}
        if len(F):
            for j, n in enumerate(names):
                best_values[n] = stored(float(F[:, j].min() * signs[j]))
        out.append({
            "study": s.study_name,
            "mode": s.user_attrs.get("dse.mode", ""),
            "trials": len(trials),
            "states": {k: v for k, v in counts.items() if v},
            "objectives": dict(zip(names, dirs)),
            "pareto_size": len(best),
            "best": best_values,
            "hypervolume_normalized": round(hv, 6) if hv is not None else None,
            "hypervolume_reference": (None if ref is None else
                                      ("fixed: " if ref.fixed else "") + ref.source),
        })
    return out
