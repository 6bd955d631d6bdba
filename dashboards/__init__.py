"""Dashboards: the offline HTML report and the live dashboard over an Optuna storage.

- :func:`build_report` writes an offline report (index of every study + one page per study).
- :func:`serve` runs a live dashboard that refreshes while studies run.
- :func:`hypervolume` / :func:`hypervolume_history` are the project's hypervolume functions
  (minimisation-oriented values), also used by the engine's ``dse status``.

Works on any Optuna study; the engine's study and trial attributes (``docs/study_files.md``) add
names, units and domain views.
"""

from __future__ import annotations

from dashboards._data import StudyData, StudyNotFoundError, load_study_data, resolve_storage
from dashboards._hypervolume import (
    Reference,
    hypervolume,
    hypervolume_history,
    pareto_mask,
    reference_point,
)
from dashboards._report import build_report
from dashboards._server import serve


__all__ = [
    "Reference",
    "StudyData",
    "StudyNotFoundError",
    "build_report",
    "hypervolume",
    "hypervolume_history",
    "load_study_data",
    "pareto_mask",
    "reference_point",
    "resolve_storage",
    "serve",
]
