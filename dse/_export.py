"""Exporting best configs, and reading them back.

A record is one trial: its flat namespaced parameters, each model's configuration in the model's
own schema (``CostModel.native_config``) with the options it was built with, its metrics and
constraint values, its state and whether it is on the feasible Pareto front. JSON and YAML write
the records as a list; CSV writes one flat row per record. Floats are written with ``repr``
precision, so ``dse evaluate --config`` on an exported record reproduces its metrics exactly.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from costmodels import get_model
from dse._errors import DseError
from dse._inputs import InputMap, input_map
from dse._study import named_constraints, pareto_trials, trial_config
from dse._values import plain


__all__ = ["FORMATS", "export_records", "load_records", "study_records", "write_records"]

FORMATS = ("csv", "json", "yaml")


def _clean(v: Any) -> Any:
    """A value as export writes it: plain Python, NaN as None, an infinity as "inf"/"-inf"."""
    # Like dse._values.stored, but an infinity stays readable ("inf") in exported files.
    v = plain(v)
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def _pareto_numbers(study: optuna.Study) -> set[int]:
    return {t.number for t in pareto_trials(study)}


def study_records(study: optuna.Study, pareto_only: bool = False) -> list[dict[str, Any]]:
    """Export records of a study's trials (the feasible Pareto set with ``pareto_only``)."""
    attrs = study.user_attrs
    objectives = attrs.get("dse.objectives") or [
        {"metric": name, "direction": d.name.lower(), "unit": ""}
        for name, d in zip(study.metric_names or
                           [f"values_{i}" for i in range(len(study.directions))],
                           study.directions)
    ]
    models = attrs.get("dse.models", [])
    fixed = attrs.get("dse.fixed", {})
    pareto = _pareto_numbers(study)
    built = _build_models(models)
    inputs = input_map(attrs) if models else None
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
        record = {
            "study": study.study_name,
            "trial": t.number,
            "state": t.state.name,
            "pareto": t.number in pareto,
            "feasible": feasible,
            "params": params,
            "config": _native(models, built, inputs, params, metrics),
            "metrics": metrics,
            "constraints": constraints,
        }
        if t.state == TrialState.FAIL:
            record["fail_reason"] = t.user_attrs.get("dse.fail_reason", "")
        records.append(record)
    return records


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
    row = {k: r[k] for k in ("study", "trial", "state", "pareto", "feasible")}
    row.update({f"param:{k}": v for k, v in r["params"].items()})
    row.update({f"metric:{k}": v for k, v in r["metrics"].items()})
    row.update({f"constraint:{k}": v for k, v in r["constraints"].items()})
    for ns, cfg in r["config"].items():
        row[f"config:{ns}"] = json.dumps(cfg, sort_keys=True)
    return row


def write_records(records: list[dict[str, Any]], path: str | Path, fmt: str) -> Path:
    """Write records as ``csv``, ``json`` or ``yaml``."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        p.write_text(json.dumps(records, indent=1))
    elif fmt == "yaml":
        import yaml

        p.write_text(yaml.safe_dump(records, sort_keys=False))
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
    study: optuna.Study, path: str | Path, formats: list[str], pareto_only: bool = False
) -> list[Path]:
    """Export a study; with several formats, ``path`` gets each format's suffix."""
    for f in formats:
        if f not in FORMATS:
            raise DseError(f"unknown export format {f!r}; expected one of {', '.join(FORMATS)}")
    records = study_records(study, pareto_only)
    written = []
    for f in formats:
        written.append(write_records(records, export_path(path, f), f))
    return written


def export_path(path: str | Path, fmt: str) -> Path:
    """``path`` with the format's extension: ``front/x`` -> ``front/x.csv``; a path that
    already ends in a known format's extension has it replaced (``x.json`` -> ``x.csv``)."""
    base = Path(path)
    if base.suffix.lower().lstrip(".") in (*FORMATS, "yml"):
        base = base.with_suffix("")
    return base.with_name(f"{base.name}.{fmt}")


def load_records(path: str | Path) -> list[dict[str, Any]]:
    """Records from an exported file (format from the suffix)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise DseError(f"{path}: cannot read exported config: {exc.strerror or exc}") from None
    suffix = p.suffix.lower()
    try:
        text = raw.decode("utf-8")
        if suffix == ".json":
            data = json.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        elif suffix == ".csv":
            data = []
            for row in csv.DictReader(text.splitlines()):
                config = {k.split(":", 1)[1]: json.loads(v) for k, v in row.items()
                          if k.startswith("config:") and v}
                params = {k.split(":", 1)[1]: v for k, v in row.items()
                          if k.startswith("param:") and v != ""}
                data.append({"study": row.get("study"), "trial": int(row["trial"]),
                             "params": params, "config": config})
        else:
            raise DseError(f"{path}: unknown export suffix {suffix!r}; expected .json, .yaml "
                           "or .csv")
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
