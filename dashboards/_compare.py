"""The comparison page: several studies (samplers, seeds, variants) on one plot.

``dse report --compare A B ...`` writes ``compare.html`` beside the report's assets:

- **Hypervolume against evaluations**, every study under *one* reference: the studies' common
  stored reference when they all have the same one (the same ``bounds`` in their study
  files), else one computed once from the union of their feasible results (ideal and nadir of
  the union, reference point nadir x 1.1). A trial-mode study contributes its incremental
  history (evaluations = trials so far); a sweep contributes one point: its front's
  hypervolume at the number of points it evaluated (its trials are a record of the sweep, not
  the order of its search).
- **Fronts overlaid**: each study's feasible Pareto set, coloured by study; a scatter for two
  objectives, a scatter matrix for more.

The studies must have the same objectives (names and directions); a mismatch is one line
naming both studies.
"""

from __future__ import annotations

import html
import os
import shutil
from pathlib import Path

import numpy as np
import optuna
import plotly.graph_objects as go
import plotly.io as pio
from optuna.storages import BaseStorage

from dashboards._data import StudyData, check_study_names, resolve_storage, study_data
from dse import DseError, Reference, hypervolume_history, reference_point, study_reference


__all__ = ["build_comparison", "common_reference", "comparison_figures"]

_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22", "#17becf"]


def _feasible_complete(data: StudyData) -> np.ndarray:
    t = data.trials
    return ((t["state"] == "COMPLETE") & t["feasible"]).to_numpy(dtype=bool)


def common_reference(studies: list[StudyData]) -> Reference:
    """One reference for every study: their shared stored one, else one from their union.

    Raises:
        DseError: when no study has a feasible result.
    """
    directions = studies[0].directions
    stored = [study_reference(d.user_attrs, directions) for d in studies]
    if all(r is not None and r.fixed for r in stored):
        attrs = [r.to_attr() for r in stored if r is not None]
        if all(a == attrs[0] for a in attrs):
            assert stored[0] is not None
            return stored[0]
    union = [d.values_min()[_feasible_complete(d)] for d in studies]
    values = np.concatenate(union) if union else np.empty((0, len(directions)))
    values = values[np.isfinite(values).all(axis=1)]
    if not len(values):
        raise DseError("compare: no study has a feasible result yet; nothing to compare")
    ref = reference_point(values, directions)
    return Reference(ref.ideal, ref.scale, ref.point,
                     f"common to the {len(studies)} studies: their union's nadir x 1.1")


def _check_same_objectives(studies: list[StudyData]) -> None:
    first = studies[0]
    for d in studies[1:]:
        if d.objectives != first.objectives or d.directions != first.directions:
            raise DseError(
                f"compare: study {d.name!r} has objectives {d.objectives} ({d.directions}) but "
                f"{first.name!r} has {first.objectives} ({first.directions}); expected the same "
                "objectives in every compared study"
            )


def _history(data: StudyData, ref: Reference) -> tuple[np.ndarray, np.ndarray]:
    """(evaluations, hypervolume) for one study under ``ref``."""
    t = data.trials
    done = (t["state"] == "COMPLETE").to_numpy(dtype=bool)
    feas = _feasible_complete(data)
    sweep = data.user_attrs.get("dse.sweep_summary")
    if data.user_attrs.get("dse.mode") == "sweep" and isinstance(sweep, dict):
        hv = ref.hypervolume(data.values_min()[feas])
        return np.array([float(sweep.get("evaluated", done.sum()))]), np.array([hv])
    vals = ref.normalize(data.values_min())
    history = hypervolume_history(np.where(done[:, None], vals, np.nan), ref.point, feas)
    return np.arange(1, len(history) + 1, dtype=np.float64), history


def comparison_figures(studies: list[StudyData], ref: Reference) -> tuple[go.Figure, go.Figure]:
    """The hypervolume-against-evaluations figure and the overlaid fronts."""
    hv_fig = go.Figure()
    for i, d in enumerate(studies):
        x, y = _history(d, ref)
        color = _PALETTE[i % len(_PALETTE)]
        mode = "markers" if len(x) == 1 else "lines"
        hv_fig.add_trace(go.Scatter(x=x, y=y, mode=mode, name=d.name, line_shape="hv",
                                    line={"color": color}, marker={"color": color, "size": 10}))
    hv_fig.update_layout(
        title="hypervolume against evaluations (one fixed reference)",
        xaxis={"title": {"text": "evaluations (trials; a sweep's points)"}, "type": "log"},
        yaxis={"title": {"text": "hypervolume (normalised)"}},
        height=460, margin={"l": 70, "r": 20, "t": 60, "b": 60},
    )
    labels = studies[0].labels
    front_fig = go.Figure()
    for i, d in enumerate(studies):
        on = d.trials["pareto"].to_numpy(dtype=bool)
        vals = d.values()[on]
        color = _PALETTE[i % len(_PALETTE)]
        if len(labels) == 2:
            front_fig.add_trace(go.Scatter(x=vals[:, 0], y=vals[:, 1], mode="markers",
                                           name=d.name, marker={"color": color, "size": 8}))
        else:
            front_fig.add_trace(go.Splom(
                dimensions=[{"label": lab, "values": vals[:, j]} for j, lab in enumerate(labels)],
                name=d.name, marker={"color": color, "size": 6}, showupperhalf=False,
                diagonal_visible=False))
    front_fig.update_layout(title="Pareto fronts overlaid", height=560,
                            margin={"l": 80, "r": 20, "t": 60, "b": 70})
    if len(labels) == 2:
        front_fig.update_layout(xaxis={"title": {"text": labels[0]}},
                                yaxis={"title": {"text": labels[1]}})
    return hv_fig, front_fig


def build_comparison(
    storage: str | os.PathLike[str] | BaseStorage,
    study_names: list[str],
    out_dir: str | os.PathLike[str] = "dse-report",
) -> Path:
    """Write ``out_dir/compare.html`` comparing ``study_names`` and return its path.

    Raises:
        StudyNotFoundError: a named study is not in the storage.
        DseError: fewer than two studies, different objectives, or nothing feasible.
    """
    from dashboards._report import page_html, plotly_js_path, static_file

    if len(study_names) < 2:
        raise DseError(f"compare: expected at least two studies, got {len(study_names)}")
    store = resolve_storage(storage)
    names = check_study_names(store, study_names)
    studies = [study_data(optuna.load_study(study_name=n, storage=store)) for n in names]
    _check_same_objectives(studies)
    if studies[0].n_objectives < 2:
        raise DseError("compare: hypervolume needs at least two objectives")
    ref = common_reference(studies)
    hv_fig, front_fig = comparison_figures(studies, ref)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(plotly_js_path(), out / "plotly.min.js")
    for name in ("report.js", "report.css"):
        (out / name).write_bytes(static_file(name))
    point = ", ".join(f"{lab} = {v:.4g}" for lab, v in
                      zip(studies[0].labels, ref.point_in_units(studies[0].directions),
                          strict=True))
    summary = (f"{len(studies)} studies: {html.escape(', '.join(names))}. Reference point "
               f"{html.escape(point)} ({html.escape(ref.source)}).")
    sections = "".join(
        f'<section id="sec-{pid}"><h2>{title}</h2><div class="plot" id="plot-{pid}"></div>'
        "</section>"
        for pid, title in (("compare-hv", "Hypervolume against evaluations"),
                           ("compare-fronts", "Fronts"))
    )
    figures = ("{" + f'"compare-hv":{pio.to_json(hv_fig, validate=False)},'
               f'"compare-fronts":{pio.to_json(front_fig, validate=False)}' + "}")
    page = page_html("Comparison", summary, sections, assets="", plotly_src="plotly.min.js",
                     nav='<a href="index.html">all studies</a>', figures=figures, details=False)
    path = out / "compare.html"
    path.write_text(page, encoding="utf-8")
    return path
