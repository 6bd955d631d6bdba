"""``dse evaluate MODEL``: one model on given points (``--set``) or on exported records
(``--config``), outside any study."""

from __future__ import annotations

from typing import Any

import numpy as np

from costmodels import ModelError
from dse._errors import DseError, one_line
from dse._options import build_model
from dse._values import plain, stored
from search_spaces import ParamError


__all__ = ["evaluate_points", "points_from_config"]


def evaluate_points(
    model_name: str, points: list[dict[str, Any]], options: dict[str, Any]
) -> list[dict[str, Any]]:
    """Evaluate points (flat param dicts, strings allowed) through one model."""
    model = build_model(model_name, options)
    known = {p.name: p for p in model.inputs}
    cols: dict[str, list[Any]] = {}
    for pt in points:
        for k in pt:
            if k not in known:
                raise ParamError(f"model {model_name!r} has no parameter {k!r}; expected one of "
                                 f"{', '.join(known)}")
    for name, p in known.items():
        cols[name] = [p.coerce(pt[name]) if name in pt else p.default for pt in points]
    batch = {name: np.asarray(v, dtype=known[name].dtype) for name, v in cols.items()}
    try:
        out = model.evaluate(batch)
    except (ModelError, ParamError):
        raise
    except Exception as exc:  # the model failed on these points: say so, as the engine would
        raise ModelError(f"model {model_name!r} could not evaluate the point: "
                         f"{type(exc).__name__}: {one_line(exc)}") from None
    constraint_names = set(model.constraint_names())
    results = []
    for i in range(len(points)):
        metrics = {k: stored(float(np.asarray(v)[i])) for k, v in out.items()
                   if k not in constraint_names}
        constraints = {k: stored(float(np.asarray(out[k])[i])) for k in constraint_names}
        results.append({
            "model": model_name,
            "params": {k: plain(batch[k][i]) for k in batch},
            "metrics": metrics,
            "constraints": constraints,
            "feasible": all(v is not None and v <= 0 for v in constraints.values()),
        })
    return results


def points_from_config(
    path: str, model_name: str, options: dict[str, Any], sets: dict[str, str]
) -> tuple[list[dict[str, Any]], dict[str, Any], list[dict[str, Any]]]:
    """The model's points in an export, its options, and each point's exported metrics and
    violations by the model's own output names."""
    from dse._export import load_records

    points = []
    expected: list[dict[str, Any]] = []
    found_options = None
    for i, r in enumerate(load_records(path)):
        configs = r["config"]
        if not isinstance(configs, dict):
            raise DseError(f"{path}: record {i}: 'config' is {type(configs).__name__}; expected "
                           "a table of model configs")
        for ns, cfg in configs.items():
            where = f"{path}: record {i}: config.{ns}"
            if not isinstance(cfg, dict):
                raise DseError(f"{where}: expected a table with 'model' and 'params', got "
                               f"{type(cfg).__name__}")
            if cfg.get("model") != model_name:
                continue
            params, cfg_options = cfg.get("params"), cfg.get("options", {})
            if not isinstance(params, dict):
                raise DseError(f"{where}.params: expected a table of parameters")
            if not isinstance(cfg_options, dict):
                raise DseError(f"{where}.options: expected a table of model options")
            found_options = cfg_options if found_options is None else found_options
            model = build_model(model_name, {**cfg_options, **options})
            flat = model.from_native(params)
            flat.update(sets)
            points.append(flat)
            exported = {**dict(r.get("metrics") or {}), **dict(r.get("constraints") or {})}
            expected.append({k[len(ns) + 1:]: v for k, v in exported.items()
                             if isinstance(k, str) and k.startswith(f"{ns}.")})
    if not points:
        raise DseError(f"{path}: no exported config for model {model_name!r}")
    return points, {**(found_options or {}), **options}, expected
