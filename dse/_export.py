"""Exporting best configs, and reading them back.

A record is one trial, or one row of a sweep's tables: its flat namespaced parameters, each
model's configuration in the model's own schema (``CostModel.native_config``) with the options
it was built with, its metrics and constraint values, its state and whether it is on the
feasible Pareto front. JSON and YAML write the records as a list; CSV and Parquet (optional
``pyarrow``, the ``parquet`` extra) write one flat row per record. Floats are written with
``repr`` precision, so ``dse evaluate --config`` on an exported record reproduces its metrics
exactly.

Which records: every trial by default; with ``--pareto`` the whole feasible Pareto set and
with ``--feasible`` every feasible design. A sweep study answers both from its own tables
(:mod:`dse._sweep_tables`), so the front's ties and designs never recorded as trials are
exported too. ``--where``, ``--sort`` and ``--top`` then select (:mod:`dse._select`).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from costmodels import get_model
from dse._errors import DseError
from dse._inputs import InputMap, input_map
from dse._select import sort_rows, table_of, where_mask
from dse._study import named_constraints, pareto_trials, trial_config
from dse._sweep_tables import sweep_table
from dse._values import plain


__all__ = ["FORMATS", "export_records", "formats_for", "load_records", "select_records",
           "study_records", "sweep_records", "write_records"]

FORMATS = ("csv", "json", "yaml", "parquet")


def _clean(v: Any) -> Any:
    """A value as export writes it: plain Python, NaN as None, an infinity as "inf"/"-inf"."""
    # Like dse._values.stored, but an infinity stays readable ("inf") in exported files.
    v = plain(v)
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def _pareto_numbers(study: optuna.Study) -> set[int]:
    return {t.number for t in pareto_trials(study)}


def _objectives(study: optuna.Study) -> list[dict[str, Any]]:
    return list(study.user_attrs.get("dse.objectives") or [
        {"metric": name, "direction": d.name.lower(), "unit": ""}
        for name, d in zip(study.metric_names or
                           [f"values_{i}" for i in range(len(study.directions))],
                           study.directions)
    ])


class _Configs:
    """Each model's native configuration for flat points of one study."""

    def __init__(self, study: optuna.Study) -> None:
        attrs = study.user_attrs
        self.models = attrs.get("dse.models", [])
        self.built = _build_models(self.models)
        self.inputs = input_map(attrs) if self.models else None

    def __call__(self, params: Mapping[str, Any], metrics: Mapping[str, Any]) -> dict[str, Any]:
        return _native(self.models, self.built, self.inputs, params, metrics)


def study_records(
    study: optuna.Study, pareto_only: bool = False, feasible_only: bool = False
) -> list[dict[str, Any]]:
    """Export records of a study's trials (the feasible Pareto set with ``pareto_only``, the
    feasible trials with ``feasible_only``)."""
    objectives = _objectives(study)
    fixed = study.user_attrs.get("dse.fixed", {})
    pareto = _pareto_numbers(study)
    configs = _Configs(study)
    trials: Iterable[FrozenTrial] = study.get_trials(deepcopy=False)
    records = []
    for t in trials:
        if pareto_only and t.number not in pareto:
            continue
        params = {k: _clean(v) for k, v in trial_config(t, fixed).items()}
        metrics: dict[str, Any] = {}
        if t.values is not None:
            metrics.update({o["metric"]: _clean(v) for o, v in zip(objectives, t.values)})
        metrics.update({k: _clean(v) for k, v in t.user_attrs.get("metrics", {}).items()})
        constraints = {k: _clean(v) for k, v in named_constraints(t).items()}
        feasible = t.state == TrialState.COMPLETE and all(
            v is not None and v <= 0 for v in constraints.values() if not isinstance(v, str)
        )
        if feasible_only and not feasible:
            continue
        record = {
            "study": study.study_name,
            "trial": t.number,
            "state": t.state.name,
            "pareto": t.number in pareto,
            "feasible": feasible,
            "params": params,
            "config": configs(params, metrics),
            "metrics": metrics,
            "constraints": constraints,
        }
        if t.state == TrialState.FAIL:
            record["fail_reason"] = t.user_attrs.get("dse.fail_reason", "")
        records.append(record)
    return records


def sweep_records(
    study: optuna.Study, pareto_only: bool = False, where: str | None = None,
    sort: str | None = None, top: int | None = None,
) -> list[dict[str, Any]] | None:
    """Export records straight from a sweep's tables: its whole front (ties included) with
    ``pareto_only``, else its whole feasible set; ``None`` when the study kept no such table.

    Rows recorded as trials carry their trial number; the others ``"trial": null`` and their
    ``row``. ``where``, ``sort`` and ``top`` select rows before any record is built.
    """
    found = sweep_table(study, "front" if pareto_only else "points")
    if found is None:
        return None
    columns, meta = found
    roles = meta.get("roles", {})
    n = int(meta["n"])
    cols = {k: np.asarray(v) for k, v in columns.items()}
    rows = np.flatnonzero(cols["feasible"].astype(bool)) if "feasible" in cols else np.arange(n)
    front = sweep_table(study, "front")
    front_rows = np.asarray(front[0]["row"]) if front is not None else np.empty(0, np.int64)
    fingerprint = study.user_attrs.get("dse.sweep_fingerprint", "")
    numbers = {t.user_attrs.get("dse.sweep_key"): t.number
               for t in study.get_trials(deepcopy=False)}
    keys = [f"{fingerprint}:{r}" for r in cols["row"].tolist()]
    cols["pareto"] = np.isin(cols["row"], front_rows)
    cols["trial"] = np.asarray([numbers.get(k, np.nan) for k in keys], dtype=np.float64)
    cols["feasible"] = np.ones(n, dtype=bool) if "feasible" not in cols else \
        cols["feasible"].astype(bool)
    rows = select_rows(study, cols, rows, where, sort, top)
    params = [c for c in roles.get("params", []) if c in cols]
    constraints = [c for c in roles.get("constraints", []) if c in cols]
    skip = {*params, *constraints, "row", "feasible", "pareto", "trial"}
    metrics = [c for c in cols if c not in skip]
    fixed = study.user_attrs.get("dse.fixed", {})
    configs = _Configs(study)
    records = []
    for i in rows.tolist():
        p = {**{k: _clean(v) for k, v in fixed.items()},
             **{c: _clean(cols[c][i]) for c in params}}
        m = {c: _clean(cols[c][i]) for c in metrics}
        number = cols["trial"][i]
        records.append({
            "study": study.study_name,
            "trial": None if np.isnan(number) else int(number),
            "row": int(cols["row"][i]),
            "state": "COMPLETE",
            "pareto": bool(cols["pareto"][i]),
            "feasible": True,
            "params": p,
            "config": configs(p, m),
            "metrics": m,
            "constraints": {c.split(":", 1)[1]: _clean(cols[c][i]) for c in constraints},
        })
    return records


def select_rows(
    study: optuna.Study, columns: Mapping[str, np.ndarray], rows: np.ndarray,
    where: str | None, sort: str | None, top: int | None,
) -> np.ndarray:
    """``rows`` kept by ``where``, ordered by ``sort`` (see :mod:`dse._select`), first ``top``."""
    if where:
        n = len(next(iter(columns.values()))) if columns else 0
        rows = rows[where_mask(where, columns, n)[rows]]
    if sort:
        directions = {o["metric"]: o["direction"] for o in _objectives(study)}
        rows = sort_rows(sort, columns, rows, directions)
    if top is not None:
        if top < 1:
            raise DseError(f"--top {top}: expected a positive number of records")
        rows = rows[:top]
    return rows


def select_records(
    study: optuna.Study, records: list[dict[str, Any]], where: str | None, sort: str | None,
    top: int | None,
) -> list[dict[str, Any]]:
    """Records kept by ``where``, ordered by ``sort``, the first ``top``."""
    if not (where or sort or top is not None):
        return records
    rows = select_rows(study, table_of(records), np.arange(len(records)), where, sort, top)
    return [records[i] for i in rows.tolist()]


def _build_models(models: list[dict[str, Any]]) -> dict[str, Any]:
    built = {}
    for m in models:
        try:
            # "source" is what the study file named (an import path when not registered).
            built[m["namespace"]] = get_model(m.get("source") or m["model"],
                                              **m.get("options", {}))
        except Exception:
            continue  # a model not installed here still exports its flat params
    return built


def _native(
    models: list[dict[str, Any]], built: Mapping[str, Any], inputs: InputMap | None,
    params: Mapping[str, Any], metrics: Mapping[str, Any],
) -> dict[str, Any]:
    """Each model's own configuration for a flat point (see :mod:`dse._inputs`)."""
    if inputs is None:
        return {}
    local = inputs(params, metrics)
    out = {}
    for m in models:
        ns = m["namespace"]
        if ns not in built:
            continue
        model = built[ns]
        point = {p.name: _clean(local[ns].get(p.name, p.default)) for p in model.inputs}
        out[ns] = {
            "model": m["model"],
            "version": m.get("version", ""),
            "options": m.get("options", {}),
            "params": model.native_config(point),
        }
    return out


def _flat_row(r: Mapping[str, Any]) -> dict[str, Any]:
    row = {k: r[k] for k in ("study", "trial", "row", "state", "pareto", "feasible") if k in r}
    row.update({f"param:{k}": v for k, v in r["params"].items()})
    row.update({f"metric:{k}": v for k, v in r["metrics"].items()})
    row.update({f"constraint:{k}": v for k, v in r["constraints"].items()})
    for ns, cfg in r["config"].items():
        row[f"config:{ns}"] = json.dumps(cfg, sort_keys=True)
    return row


def write_records(records: list[dict[str, Any]], path: str | Path, fmt: str) -> Path:
    """Write records as ``csv``, ``json``, ``yaml`` or ``parquet``."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        # One record per line: readable, and json's C encoder (an indent forces the pure-Python
        # one, which took 70 % of exporting comet_1t's 43,420 feasible designs).
        p.write_text("[\n" + ",\n".join(json.dumps(r) for r in records) + "\n]\n")
    elif fmt == "yaml":
        import yaml

        p.write_text(yaml.safe_dump(records, sort_keys=False))
    elif fmt == "parquet":
        _write_parquet([_flat_row(r) for r in records], p)
    elif fmt == "csv":
        rows = [_flat_row(r) for r in records]
        fields: list[str] = []
        for row in rows:
            fields += [k for k in row if k not in fields]
        with p.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: repr(v) if isinstance(v, float) else v
                                 for k, v in row.items()})
    else:
        raise DseError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return p


def export_records(
    study: optuna.Study, path: str | Path, formats: list[str], pareto_only: bool = False,
    feasible_only: bool = False, where: str | None = None, sort: str | None = None,
    top: int | None = None,
) -> list[Path]:
    """Export a study; with several formats, ``path`` gets each format's suffix.

    With ``pareto_only`` or ``feasible_only`` a sweep study exports from its own tables (its
    whole front, ties included, or its whole feasible set), other studies from their trials;
    ``where``, ``sort`` and ``top`` select among them (:mod:`dse._select`).
    """
    for f in formats:
        if f not in FORMATS:
            raise DseError(f"unknown export format {f!r}; expected one of {', '.join(FORMATS)}")
    if "parquet" in formats:
        _pyarrow()  # fail before writing anything
    records = None
    if pareto_only or feasible_only:
        records = sweep_records(study, pareto_only, where, sort, top)
        if records is None and feasible_only and sweep_table(study, "front") is not None:
            raise DseError(f"study {study.study_name!r}: its sweep kept no table of feasible "
                           "points ([sweep] save = 'front'); export --pareto, or re-run it "
                           "with save = 'feasible' under a new --name")
    if records is None:
        records = select_records(study, study_records(study, pareto_only, feasible_only),
                                 where, sort, top)
    written = []
    for f in formats:
        written.append(write_records(records, export_path(path, f), f))
    return written


def formats_for(path: str | Path, given: str | None) -> list[str]:
    """The formats to write: ``given`` (a comma list), else the one ``path``'s extension
    names (``front.csv`` -> csv), else JSON."""
    if given is not None:
        return [f.strip().lower() for f in given.split(",") if f.strip()]
    suffix = Path(path).suffix.lower().lstrip(".")
    suffix = "yaml" if suffix == "yml" else suffix
    return [suffix if suffix in FORMATS else "json"]


def export_path(path: str | Path, fmt: str) -> Path:
    """``path`` with the format's extension: ``front/x`` -> ``front/x.csv``; a path that
    already ends in a known format's extension has it replaced (``x.json`` -> ``x.csv``)."""
    base = Path(path)
    if base.suffix.lower().lstrip(".") in (*FORMATS, "yml"):
        base = base.with_suffix("")
    return base.with_name(f"{base.name}.{fmt}")


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise DseError("the parquet format needs pyarrow: pip install 'dse[parquet]' "
                       "(or pip install pyarrow)") from None
    return pyarrow


def _parquet_column(values: list[Any]) -> list[Any]:
    """One type per column: flags, integers, floats (``"inf"`` back to a float) or text."""
    present = [v for v in values if v is not None]
    if all(isinstance(v, bool) for v in present):
        return values
    if all((isinstance(v, int | float) and not isinstance(v, bool))
           or (isinstance(v, str) and v in ("inf", "-inf")) for v in present):
        if all(isinstance(v, int) for v in present):
            return values
        return [None if v is None else float(v) for v in values]
    return [None if v is None else v if isinstance(v, str) else json.dumps(v) for v in values]


def _write_parquet(rows: list[dict[str, Any]], path: Path) -> None:
    pa = _pyarrow()
    fields: list[str] = []
    for row in rows:
        fields += [k for k in row if k not in fields]
    table = pa.table({k: _parquet_column([row.get(k) for row in rows]) for k in fields})
    pa.parquet.write_table(table, str(path))


def _parquet_rows(path: Path) -> list[dict[str, Any]]:
    pa = _pyarrow()
    try:
        return list(pa.parquet.read_table(str(path)).to_pylist())
    except (OSError, ValueError, pa.lib.ArrowException) as exc:
        raise DseError(f"{path}: not a readable parquet export: {exc}") from None


def load_records(path: str | Path) -> list[dict[str, Any]]:
    """Records from an exported file (format from the suffix)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise DseError(f"{path}: cannot read exported config: {exc.strerror or exc}") from None
    suffix = p.suffix.lower()
    try:
        text = raw.decode("utf-8") if suffix != ".parquet" else ""
        if suffix == ".json":
            data = json.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        elif suffix in (".csv", ".parquet"):
            data = []
            rows = csv.DictReader(text.splitlines()) if suffix == ".csv" else _parquet_rows(p)
            for row in rows:
                config = {k.split(":", 1)[1]: json.loads(v) for k, v in row.items()
                          if k.startswith("config:") and v}
                params = {k.split(":", 1)[1]: v for k, v in row.items()
                          if k.startswith("param:") and v not in ("", None)}
                trial = row.get("trial")
                data.append({"study": row.get("study"),
                             "trial": int(float(trial)) if trial not in ("", None) else None,
                             "params": params, "config": config})
        else:
            raise DseError(f"{path}: unknown export suffix {suffix!r}; expected .json, .yaml, "
                           ".csv or .parquet")
    except (ValueError, KeyError, AttributeError, TypeError) as exc:  # UnicodeDecodeError too
        raise DseError(f"{path}: malformed exported config: {exc}") from None
    except Exception as exc:  # yaml.YAMLError, imported lazily
        if type(exc).__module__.split(".")[0] != "yaml":
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DseError(f"{path}: malformed exported config: {first}") from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(r, dict) and "config" in r
                                             for r in data):
        raise DseError(f"{path}: expected a list of exported records with a 'config' table")
    return data
