"""Dashboards: the offline HTML report and the live dashboard over an Optuna storage.

- :func:`build_report` writes an offline report (index of every study + one page per study).
- :func:`serve` runs a live dashboard that refreshes while studies run (:func:`make_server`
  creates it without blocking).
- :func:`hypervolume` / :func:`hypervolume_history` / :func:`pareto_mask` /
  :func:`reference_point` are re-exported from the engine (``dse._hypervolume``,
  ``dse._pareto``), the project's one implementation.

Works on any Optuna study; the engine's study and trial attributes (``docs/study_files.md``) add
names, units and domain views. Importing the package is cheap: the report and server modules
(pandas, plotly) load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from dse import Reference, hypervolume, hypervolume_history, pareto_mask, reference_point


if TYPE_CHECKING:
    from dashboards._compare import build_comparison
    from dashboards._data import (
        StudyData,
        StudyNotFoundError,
        load_study_data,
        resolve_storage,
    )
    from dashboards._report import build_report
    from dashboards._server import DashboardServer, make_server, serve


__all__ = [
    "DashboardServer",
    "Reference",
    "StudyData",
    "StudyNotFoundError",
    "build_comparison",
    "build_report",
    "hypervolume",
    "hypervolume_history",
    "load_study_data",
    "make_server",
    "pareto_mask",
    "reference_point",
    "resolve_storage",
    "serve",
]

_LAZY = {
    "StudyData": "dashboards._data",
    "StudyNotFoundError": "dashboards._data",
    "load_study_data": "dashboards._data",
    "resolve_storage": "dashboards._data",
    "build_comparison": "dashboards._compare",
    "build_report": "dashboards._report",
    "DashboardServer": "dashboards._server",
    "make_server": "dashboards._server",
    "serve": "dashboards._server",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dashboards' has no attribute {name!r}")
