"""The Python API for notebooks and scripts: run a study, get the study and its front back.

``run_study(spec, storage=...)`` does what ``dse run`` does and returns a :class:`StudyResult`:
the run's summary, the Optuna study (``.study``), the Pareto set as a pandas DataFrame
(``.front()``), a sweep's whole front (``.sweep_front()``) and the export records
(``.records()``). ``storage`` is ``":memory:"`` (one in-memory storage per process, so
re-running a cell resumes the study), an Optuna storage URL, a journal-file path, or a storage
object.

Budgets: ``n_trials`` is the study's *total*, as in the CLI, so re-running a cell that ran 50 of
``n_trials=50`` does nothing; ``add_trials=k`` runs ``k`` more whatever is stored.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd

from dse._errors import DseError
from dse._inputs import input_map
from dse._run import RunSummary
from dse._run import run_study as _run
from dse._spec import StudySpec, load_spec
from dse._study import budget_used, pareto_trials, trial_config
from dse._values import plain


__all__ = ["MEMORY", "StudyResult", "front_frame", "run_study", "storage_for"]

MEMORY = ":memory:"
_memory: optuna.storages.InMemoryStorage | None = None
_memory_files: Path | None = None


def storage_for(storage: Any) -> tuple[optuna.storages.BaseStorage | None, str | None]:
    """``(storage object, storage spec)`` for what :func:`run_study` accepts.

    ``":memory:"`` is one in-memory storage per process (re-running resumes); a storage object
    is used as given; a URL or path is left to the engine (``None`` object).
    """
    global _memory
    if storage is None:
        return None, None
    if isinstance(storage, optuna.storages.BaseStorage):
        return storage, None
    if isinstance(storage, str | os.PathLike):
        text = os.fspath(storage)
        if text == MEMORY:
            if _memory is None:
                _memory = optuna.storages.InMemoryStorage()
            return _memory, None
        return None, text
    raise DseError(f"storage={storage!r}: expected ':memory:', a storage URL, a journal-file "
                   "path or an Optuna storage")


def _memory_dir() -> Path:
    # A study in memory keeps its files (sweep tables) in a temporary folder of the process.
    global _memory_files
    if _memory_files is None:
        _memory_files = Path(tempfile.mkdtemp(prefix="dse-memory-"))
    return _memory_files


@dataclass
class StudyResult(RunSummary):
    """What :func:`run_study` did, and the study it did it to.

    Every :class:`~dse.RunSummary` field (``n_complete``, ``n_failed``, ``sweep`` ...) plus:

    Attributes:
        study: the Optuna study (the full Optuna API: ``study.trials``, ``best_trials``, ...).
    """

    study: optuna.Study | None = field(default=None, repr=False)

    def _study(self) -> optuna.Study:
        if self.study is None:
            raise DseError("this result holds no study")
        return self.study

    def front(self) -> pd.DataFrame:
        """The study's feasible Pareto set, one row per trial (see :func:`front_frame`)."""
        return front_frame(self._study())

    def sweep_front(self) -> pd.DataFrame:
        """A sweep's whole feasible front (the study holds at most ``max_front_trials``).

        Columns: every parameter (pinned ones too), every bound input under the model's own
        name, every model output; ``df.attrs["units"]`` maps columns to units. A re-run of a
        finished sweep reads the front file the sweep left (``dse.sweep_front``).
        """
        study = self._study()
        columns: Mapping[str, Any] = self.front_columns
        stored_front = study.user_attrs.get("dse.sweep_front")
        if not columns and stored_front and (Path(stored_front) / "meta.json").is_file():
            from dse._columnar import read_columns

            columns = read_columns(stored_front)  # a finished sweep, re-run: its front file
        cols = {k: np.asarray(v) for k, v in columns.items()
                if not k.startswith("__") and k != "feasible"}
        frame = pd.DataFrame(cols)
        for k, v in input_map(study.user_attrs).bound_columns(frame).items():
            frame[k] = v
        frame.attrs["units"] = _units(study)
        frame.attrs["objectives"] = _objectives(study)
        return frame

    def records(self, pareto_only: bool = False) -> list[dict[str, Any]]:
        """The export records of the study's trials (what ``dse export`` writes)."""
        from dse._export import study_records

        return study_records(self._study(), pareto_only)


def _units(study: optuna.Study) -> dict[str, str]:
    units = dict(study.user_attrs.get("dse.units") or {})
    for o in study.user_attrs.get("dse.objectives") or []:
        units.setdefault(o["metric"], o.get("unit", ""))
    return units


def _objectives(study: optuna.Study) -> dict[str, str]:
    return {o["metric"]: o["direction"] for o in study.user_attrs.get("dse.objectives") or []}


def front_frame(study: optuna.Study) -> pd.DataFrame:
    """The feasible Pareto set of a study written by dse as a DataFrame indexed by trial.

    Columns: the flat parameters (pinned and nested inner ones included), every bound input
    under the model's own name (``hw.nm_n`` beside ``sparsity.n``, the value the model saw),
    then the objectives and every other model output. Names carry units by convention
    (``hw.latency_ms``); ``df.attrs["units"]`` maps every metric column to its unit and
    ``df.attrs["objectives"]`` maps each objective to its direction.
    """
    attrs = study.user_attrs
    fixed = attrs.get("dse.fixed", {})
    objectives = list(_objectives(study))
    rows: list[dict[str, Any]] = []
    numbers: list[int] = []
    for t in sorted(pareto_trials(study), key=lambda t: t.number):
        row = {k: plain(v) for k, v in trial_config(t, fixed).items()}
        if t.values is not None:
            row.update(zip(objectives or [f"values_{i}" for i in range(len(t.values))],
                           t.values))
        row.update(t.user_attrs.get("metrics", {}))
        rows.append(row)
        numbers.append(t.number)
    frame = pd.DataFrame(rows, index=pd.Index(numbers, name="trial"))
    if attrs.get("dse.models"):
        bound = input_map(attrs).bound_columns(frame)
        params = [c for c in frame.columns if c not in _units(study)]
        at = len(params)
        for k, v in bound.items():
            frame.insert(at, k, v)
            at += 1
    frame.attrs["units"] = _units(study)
    frame.attrs["objectives"] = _objectives(study)
    return frame


def run_study(
    spec: StudySpec | str | os.PathLike[str] | Mapping[str, Any],
    *,
    storage: Any = None,
    n_trials: int | None = None,
    add_trials: int | None = None,
    workers: int | None = None,
    seed: int | None = None,
    timeout_s: float | None = None,
    name: str | None = None,
    quiet: bool = True,
    cache_dir: str | Path | None = None,
) -> StudyResult:
    """Launch or resume a study and return its result.

    Args:
        spec: a :class:`~dse.StudySpec`, a study file path, a shipped study's name or a dict
            (see :func:`dse.load_spec`).
        storage: ``":memory:"``, a storage URL, a journal-file path or an Optuna storage;
            default: the study file's ``[storage]``, else the CLI's default journal.
        n_trials: the study's total budget (re-running tops up to it).
        add_trials: run this many more trials than the study already has (trial and nested
            mode); exclusive with ``n_trials``.
        workers: Ray workers (more than 1 runs on Ray).
        seed, timeout_s, name: as the CLI flags ``--seed``, ``--timeout``, ``--name``.
        quiet: no progress display.
        cache_dir: the models' disk cache.

    Raises:
        DseError: for a bad spec, storage or budget (one line; nothing is written).
    """
    if not isinstance(spec, StudySpec):
        spec = load_spec(spec)  # type: ignore[arg-type]
    if n_trials is not None and add_trials is not None:
        raise DseError("run_study: give n_trials (the total) or add_trials (more), not both")
    for label, value in (("n_trials", n_trials), ("add_trials", add_trials),
                         ("workers", workers)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise DseError(f"run_study: {label}={value!r}: expected an integer >= 1")
    store, url = storage_for(storage)
    spec = spec.with_overrides(workers=workers, seed=seed, timeout_s=timeout_s, name=name,
                               storage=url)
    if add_trials is not None:
        if spec.mode == "sweep":
            raise DseError("run_study: add_trials: a sweep has no trial budget; it runs once")
        n_trials = _used(spec, store) + add_trials
    spec = spec.with_overrides(n_trials=n_trials)
    files = _memory_dir() / spec.name if store is not None and store is _memory else None
    summary = _run(spec, quiet=quiet, cache_dir=cache_dir, storage=store, files=files)
    if store is not None and store is _memory:
        summary.storage = MEMORY
    from dse._storage import open_storage

    study = optuna.load_study(study_name=spec.name,
                              storage=store if store is not None else open_storage(spec.storage))
    return StudyResult(**summary.__dict__, study=study)


def _used(spec: StudySpec, store: optuna.storages.BaseStorage | None) -> int:
    from dse._storage import open_storage

    storage = store if store is not None else open_storage(spec.storage)
    names = {s.study_name for s in storage.get_all_studies()}
    if spec.name not in names:
        return 0
    return budget_used(optuna.load_study(study_name=spec.name, storage=storage), spec.mode)
