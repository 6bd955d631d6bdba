"""A sweep's tables as a study records them, and :func:`read_sweep` to read them with pandas.

A sweep keeps two columnar tables (:mod:`dse._columnar`) in its study's folder, named on the
study by user attributes:

* ``front`` (``dse.sweep_front``): every design on the feasible Pareto front, ties included;
* ``points`` (``dse.sweep_file``): the feasible points (``[sweep] save = "feasible"``, the
  default) or every point (``save = "all"``).

Columns: the parameters, every model output, ``constraint:NAME`` for each constraint value
(``<= 0`` feasible), ``feasible`` and ``row`` (the point's number in evaluation order; trials
recorded from a sweep carry it in ``dse.sweep_key``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import optuna

from dse._columnar import read_columns, read_meta
from dse._errors import DseError


__all__ = ["TABLES", "read_sweep", "sweep_table", "sweep_table_path"]

TABLES = {"front": "dse.sweep_front", "points": "dse.sweep_file"}


def sweep_table_path(study: optuna.Study, table: str) -> Path | None:
    """The folder of a study's sweep table, or None when the study kept none."""
    if table not in TABLES:
        raise DseError(f"unknown sweep table {table!r}; expected one of {', '.join(TABLES)}")
    path = study.user_attrs.get(TABLES[table])
    if not path or not (Path(path) / "meta.json").is_file():
        return None
    return Path(path)


def sweep_table(study: optuna.Study, table: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """``(columns, meta)`` of a study's sweep table (memory-mapped), or None without one."""
    path = sweep_table_path(study, table)
    if path is None:
        return None
    return read_columns(path), read_meta(path)


def read_sweep(study: str | optuna.Study, storage: str | None = None,
               table: str = "points") -> Any:
    """A study's sweep table as a :class:`pandas.DataFrame`.

    Args:
        study: A study name (looked up in ``storage``) or an Optuna study.
        storage: Storage URL or journal path (default: the embedded journal), when ``study``
            is a name.
        table: ``"points"`` (the feasible points, or every point with ``save = "all"``) or
            ``"front"`` (the whole Pareto front, ties included).

    Raises:
        DseError: no such study, or the study kept no such table (a trial-mode study, or a
            sweep with ``save = "front"`` / ``"none"``).

    Example:
        >>> import dse
        >>> df = dse.read_sweep("vegeta", table="front")
        >>> df.sort_values("vegeta.latency_ms").head()
    """
    import pandas as pd

    if isinstance(study, str):
        from dse._storage import open_storage

        store = open_storage(storage, create=False)
        names = [s.study_name for s in store.get_all_studies()]
        if study not in names:
            raise DseError(f"unknown study {study!r}; the storage has: "
                           f"{', '.join(names) or 'none'}")
        study = optuna.load_study(study_name=study, storage=store)
    found = sweep_table(study, table)
    if found is None:
        raise DseError(f"study {study.study_name!r} has no sweep {table} table (not a "
                       "sweep, or its [sweep] save kept none: 'front' keeps only the front, "
                       "'none' nothing)")
    columns, _ = found
    return pd.DataFrame({k: np.asarray(v) for k, v in columns.items()})
