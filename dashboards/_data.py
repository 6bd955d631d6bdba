"""Load an Optuna study into tidy pandas frames for the figures, the report and the server.

Works on any Optuna study. When the engine's conventions are present (``docs/study_files.md``:
study attrs ``dse.objectives`` / ``dse.models`` / ``dse.reference``, trial attrs
``metrics``, ``dse.inner_params``, ``dse.fail_reason``, ``dse.curve``, constraints set with
``trial.set_constraint``) they name and annotate the data; otherwise objectives fall back to
Optuna's metric names or ``values_0, values_1, ...``. The earlier per-key forms ``m.<metric>``
and ``c.<constraint>`` are read too.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from dse import input_map, named_constraints, pareto_mask  # the engine's public API


__all__ = [
    "StudyData",
    "StudyNotFoundError",
    "check_study_names",
    "load_study_data",
    "resolve_storage",
    "study_names",
]


# Unit suffixes of metric names (project convention: names carry units, e.g. ``latency_ms``).
_UNIT_SUFFIXES = {
    "ms": "ms",
    "us": "us",
    "ns": "ns",
    "s": "s",
    "mj": "mJ",
    "uj": "uJ",
    "j": "J",
    "pj": "pJ",
    "w": "W",
    "mw": "mW",
    "mm2": "mm^2",
    "usd": "USD",
    "gb": "GB",
    "mb": "MB",
    "kb": "KB",
    "pct": "%",
}


try:  # the engine's user-facing error, so `dse report NAME` prints it as one line
    from dse import DseError as _UserError
except ImportError:  # pragma: no cover - dashboards used without the engine
    _UserError = ValueError  # type: ignore[assignment,misc]


class StudyNotFoundError(_UserError):
    """A study name that is not in the storage; the message lists the studies that are.

    A ``ValueError`` (through the engine's ``DseError`` when the engine is importable).
    """


def resolve_storage(storage: str | os.PathLike[str] | BaseStorage) -> BaseStorage:
    """An Optuna storage from a storage object, a storage URL, or a journal file path.

    Args:
        storage: an Optuna storage, a URL (``sqlite:///x.db``, ``redis://...`` for a journal on
            Redis, any RDB URL), or a plain path meaning a journal file.

    Raises:
        ValueError: (the engine's ``StorageError``) if a journal file path does not exist or
            the URL cannot be opened.
    """
    if isinstance(storage, BaseStorage):
        return storage
    from dse import open_storage

    return open_storage(os.fspath(storage), create=False)


def study_names(storage: BaseStorage) -> list[str]:
    """Names of every study in the storage, in creation order."""
    return [s.study_name for s in storage.get_all_studies()]


def check_study_names(storage: BaseStorage, names: list[str] | None) -> list[str]:
    """The requested study names (all when None), checked against the storage.

    Raises:
        StudyNotFoundError: naming the first missing study and listing those that exist.
    """
    existing = study_names(storage)
    for name in existing if names is None else names:
        if name not in existing:
            listed = ", ".join(repr(n) for n in existing) or "none"
            raise StudyNotFoundError(f"no study named {name!r} in the storage; studies: {listed}")
    return existing if names is None else list(names)


def _unit_of(name: str) -> str:
    tail = name.rsplit(".", 1)[-1].rsplit("_", 1)
    return _UNIT_SUFFIXES.get(tail[-1].lower(), "") if len(tail) == 2 else ""


def _label(name: str, unit: str) -> str:
    return f"{name} [{unit}]" if unit else name


@dataclass
class StudyData:
    """One study as tidy frames. Frames are indexed by trial number.

    Attributes:
        name: study name.
        study: the Optuna study (for importance and anything else that needs it).
        directions: ``"minimize"`` / ``"maximize"`` per objective.
        objectives: objective names (metric names when known, else ``values_i``).
        units: unit per objective ("" when unknown).
        trials: one row per trial: ``state``, ``start``, ``complete``, ``elapsed_s`` (completion
            time since the first trial started), ``duration_s``, one column per objective,
            ``feasible``, ``violation`` (largest positive constraint value, 0 when feasible),
            ``pareto`` (on the feasible front of COMPLETE trials), ``fail_reason``.
        params: parameter values (NaN where a conditional parameter is absent), including a
            nested study's inner params.
        metrics: the ``metrics`` trial attr (non-objective model outputs), constraints excluded.
        constraints: constraint values (``trial.constraints``, and ``c.*`` attrs).
        curves: ``dse.curve`` per trial number, as ``(steps, values)`` arrays.
        models: the ``dse.models`` study attr (empty when absent).
        user_attrs: the study's user attrs.
        int_params: parameters with an integer distribution (the frame stores them as floats
            when some trial lacks them).
        cache: results derived once and shared between views (e.g. the final hypervolume).
    """

    name: str
    study: optuna.Study
    directions: list[str]
    objectives: list[str]
    units: list[str]
    trials: pd.DataFrame
    params: pd.DataFrame
    metrics: pd.DataFrame
    constraints: pd.DataFrame
    curves: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    models: list[dict[str, Any]] = field(default_factory=list)
    user_attrs: dict[str, Any] = field(default_factory=dict)
    int_params: frozenset[str] = frozenset()
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def n_objectives(self) -> int:
        return len(self.directions)

    @property
    def labels(self) -> list[str]:
        """Objective axis titles with units, e.g. ``latency_ms [ms]``."""
        return [_label(n, u) for n, u in zip(self.objectives, self.units, strict=True)]

    @property
    def complete(self) -> pd.DataFrame:
        """COMPLETE trials with finite objective values."""
        t = self.trials
        ok = (t["state"] == "COMPLETE") & np.all(np.isfinite(self.values()), axis=1)
        return t[ok]

    def values(self, trials: pd.DataFrame | None = None) -> np.ndarray:
        """Objective values as they were reported, ``(n, m)``."""
        t = self.trials if trials is None else trials
        return t[self.objectives].to_numpy(dtype=np.float64)

    def values_min(self, trials: pd.DataFrame | None = None) -> np.ndarray:
        """Objective values with maximised objectives negated (minimisation-oriented)."""
        sign = np.array([-1.0 if d == "maximize" else 1.0 for d in self.directions])
        return self.values(trials) * sign

    def state_counts(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.trials["state"].value_counts().items()}

    def model_inputs(self, number: int) -> dict[str, dict[str, Any]]:
        """Each model's inputs for one trial, ``{namespace: {input: value}}``.

        Mapped by :func:`dse.model_inputs` from the map stored with the study, exactly as the
        workers mapped the point: bound and pinned values, nested inner params, defaults.
        """
        if "inputs" not in self.cache:
            self.cache["inputs"] = input_map(self.user_attrs)
        cfg = self.config(number)
        produced = {**cfg.get("metrics", {}), **cfg["values"]}
        inputs: dict[str, dict[str, Any]] = self.cache["inputs"](cfg["params"], produced)
        return inputs

    def config(self, number: int) -> dict[str, Any]:
        """Everything known about one trial: params, objective values, metrics, constraints."""
        return self.configs([number])[int(number)]

    def configs(self, numbers: Iterable[int] | None = None) -> dict[int, dict[str, Any]]:
        """:meth:`config` for many trials at once (all by default), without per-row indexing."""
        idx = self.trials.index if numbers is None else pd.Index([int(n) for n in numbers])
        t = self.trials.loc[idx]
        params = self.params.reindex(idx).to_dict("index")
        metrics = self.metrics.reindex(idx).to_dict("index") if self.metrics.shape[1] else {}
        cons = self.constraints.reindex(idx).to_dict("index") if self.constraints.shape[1] else {}
        values = t[self.objectives].to_dict("index")
        out: dict[int, dict[str, Any]] = {}
        for number, state, feasible, pareto, reason in zip(
            idx, t["state"], t["feasible"], t["pareto"], t["fail_reason"], strict=True
        ):
            n = int(number)
            cfg: dict[str, Any] = {"trial": n, "state": str(state)}
            cfg["params"] = {
                k: int(v) if k in self.int_params and isinstance(v, float) else v
                for k, v in _clean(params.get(number, {})).items()
            }
            cfg["values"] = {k: _num(v) for k, v in values[number].items()}
            if metrics:
                cfg["metrics"] = _clean(metrics[number])
            if cons:
                cfg["constraints"] = _clean(cons[number])
            cfg["feasible"] = bool(feasible)
            cfg["pareto"] = bool(pareto)
            if isinstance(reason, str) and reason:
                cfg["fail_reason"] = reason
            out[n] = cfg
        return out


def _num(v: Any) -> Any:
    if isinstance(v, (float, np.floating)):
        return None if not math.isfinite(float(v)) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    """Drop absent (NaN/None) entries and make numbers JSON-friendly."""
    out = {}
    for k, v in d.items():
        if v is None or (isinstance(v, (float, np.floating)) and math.isnan(float(v))):
            continue
        out[str(k)] = _num(v)
    return out


def _objective_meta(study: optuna.Study, n_obj: int) -> tuple[list[str], list[str]]:
    attrs = study.user_attrs
    declared = attrs.get("dse.objectives")
    if isinstance(declared, list) and len(declared) == n_obj:
        try:
            names = [str(d["metric"]) for d in declared]
            units = [
                str(d.get("unit") or "") or _unit_of(n)
                for d, n in zip(declared, names, strict=True)
            ]
            return _unique(names), units
        except (TypeError, KeyError):
            pass
    names = list(study.metric_names or [])
    if len(names) != n_obj or any(not n for n in names):
        names = [f"values_{i}" for i in range(n_obj)]
    return _unique(names), [_unit_of(n) for n in names]


def _unique(names: list[str]) -> list[str]:
    # Objective names become DataFrame columns next to fixed ones; keep them distinct.
    reserved = {"state", "start", "complete", "elapsed_s", "duration_s", "feasible", "violation"}
    reserved |= {"pareto", "fail_reason", "number"}
    out: list[str] = []
    for n in names:
        k = n
        while k in reserved or k in out:
            k = f"{k}'"
        out.append(k)
    return out


def load_study_data(storage: str | os.PathLike[str] | BaseStorage, name: str) -> StudyData:
    """Load one study into :class:`StudyData`.

    Raises:
        StudyNotFoundError: if no study of that name is in the storage.
    """
    store = resolve_storage(storage)
    check_study_names(store, [name])
    study = optuna.load_study(study_name=name, storage=store)
    return study_data(study)


def study_data(study: optuna.Study) -> StudyData:
    """:class:`StudyData` from an already loaded study."""
    trials = study.get_trials(deepcopy=False)
    directions = [d.name.lower() for d in study.directions]
    objectives, units = _objective_meta(study, len(directions))
    numbers = [t.number for t in trials]

    rows = [_trial_row(t, len(directions)) for t in trials]
    frame = pd.DataFrame(
        rows,
        index=pd.Index(numbers, name="number"),
        columns=["state", "start", "complete", "duration_s", "fail_reason", *objectives],
    )
    frame["start"] = pd.to_datetime(frame["start"])
    frame["complete"] = pd.to_datetime(frame["complete"])
    t0 = frame["start"].min()
    frame["elapsed_s"] = (frame["complete"] - t0).dt.total_seconds() if len(frame) else []

    params = pd.DataFrame.from_records(
        [_params(t) for t in trials], index=pd.Index(numbers, name="number")
    )
    metrics = pd.DataFrame.from_records(
        [_metrics(t) for t in trials], index=pd.Index(numbers, name="number")
    )
    constraints = pd.DataFrame.from_records(
        [_constraints(t) for t in trials], index=pd.Index(numbers, name="number")
    )
    if constraints.shape[1]:
        cvals = constraints.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
        violation = np.nanmax(np.where(np.isnan(cvals), 0.0, np.maximum(cvals, 0.0)), axis=1)
    else:
        violation = np.zeros(len(frame))
    frame["violation"] = violation
    frame["feasible"] = violation <= 0.0

    data = StudyData(
        name=study.study_name,
        study=study,
        directions=directions,
        objectives=objectives,
        units=units,
        trials=frame,
        params=params,
        metrics=metrics,
        constraints=constraints,
        curves=_curves(trials),
        models=_models(study.user_attrs),
        user_attrs=dict(study.user_attrs),
        int_params=frozenset(
            k
            for t in trials
            for k, d in t.distributions.items()
            if isinstance(d, optuna.distributions.IntDistribution)
        ),
    )
    frame["pareto"] = False
    if len(frame) and directions:
        ok = (frame["state"] == "COMPLETE").to_numpy() & frame["feasible"].to_numpy()
        vals = data.values_min()
        ok &= np.all(np.isfinite(vals), axis=1)
        if ok.any():
            on_front = np.zeros(len(frame), dtype=bool)
            on_front[np.flatnonzero(ok)] = pareto_mask(vals[ok])
            frame["pareto"] = on_front
    return data


def _trial_row(t: FrozenTrial, n_obj: int) -> list[Any]:
    values = list(t.values) if t.values is not None and len(t.values) == n_obj else []
    values = values or [math.nan] * n_obj
    duration = t.duration.total_seconds() if t.duration is not None else math.nan
    reason = t.user_attrs.get("dse.fail_reason") or t.system_attrs.get("fail_reason") or ""
    return [t.state.name, t.datetime_start, t.datetime_complete, duration, str(reason), *values]


def _params(t: FrozenTrial) -> dict[str, Any]:
    """Searched params plus, for nested studies, the inner sweep's params of that trial."""
    inner = t.user_attrs.get("dse.inner_params")
    return {**inner, **t.params} if isinstance(inner, dict) else t.params


def _metrics(t: FrozenTrial) -> dict[str, Any]:
    """The trial attr ``metrics`` (and legacy ``m.*`` attrs), minus constraint values."""
    out = {k[2:]: v for k, v in t.user_attrs.items() if k.startswith("m.")}
    bundled = t.user_attrs.get("metrics")
    if isinstance(bundled, dict):
        out.update(bundled)
    for name in named_constraints(t):
        out.pop(name, None)
    return out


def _constraints(t: FrozenTrial) -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in t.user_attrs.items():
        if k.startswith("c.") and isinstance(v, (int, float)):
            out[k[2:]] = float(v)
    for k, v in named_constraints(t).items():
        out.setdefault(k, v)
    return out


def _curves(trials: list[FrozenTrial]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for t in trials:
        curve = t.user_attrs.get("dse.curve")
        if curve is None and t.intermediate_values and t.state != TrialState.RUNNING:
            curve = sorted(t.intermediate_values.items())
        if not curve:
            continue
        try:
            arr = np.asarray(curve, dtype=np.float64).reshape(-1, 2)
        except (TypeError, ValueError):
            continue
        out[t.number] = (arr[:, 0], arr[:, 1])
    return out


def _models(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    models = attrs.get("dse.models")
    if not isinstance(models, list):
        return []
    return [m for m in models if isinstance(m, dict) and "model" in m]
