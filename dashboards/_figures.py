"""Plotly figure builders for one study: Pareto views, progress, importance, and domain views.

Every builder takes a :class:`~dashboards._data.StudyData` and returns a :class:`Panel` (a titled
figure or HTML fragment, or a plain note saying why there is nothing to show). Points carry their
trial number in ``customdata`` so the page's script can show the full configuration of a hovered
or clicked point (``report.js``); Pareto points also carry it in their own hover text.

Large studies stay small on the page: arrays go out as float32 typed arrays, step curves keep only
the points where they change, and 2-D scatters switch to WebGL above a few thousand points.
"""

from __future__ import annotations

import functools
import html
import json
import logging
import math
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboards._data import StudyData
from dse._hypervolume import Reference, hypervolume_history
from dse._hypervolume import study_reference as engine_study_reference


__all__ = ["Panel", "study_panels", "study_reference", "trials_payload"]

_log = logging.getLogger(__name__)

PARETO_COLOR = "#1f5fbf"
DOMINATED_COLOR = "rgba(140,140,140,0.45)"
INFEASIBLE_COLOR = "#d62728"
WEBGL_ABOVE = 3000  # points; SVG scatter gets slow beyond this
MAX_HOVER_ITEMS = 24  # config entries in a Pareto point's hover box (the panel shows all)
MAX_TABLE_ROWS = 1000
MAX_DOMAIN_CONFIGS = 40  # Pareto configs in the per-config domain views
MAX_LABELLED_CELLS = 160  # heatmap cells that still get a text label
MIN_IMPORTANCE_TRIALS = 10
HISTORY_BUDGET_S = 5.0  # per hypervolume history with 4+ objectives (big fronts get slow)
MAX_IMPORTANCE_TRIALS = 1000  # above this, importance is estimated on a random sample
CLUSTER_TIMES = (
    ("time_fwd_s", "forward"),
    ("time_bwd_s", "backward"),
    ("time_recompute_s", "recompute"),
    ("time_bubble_s", "pipeline bubble"),
    ("time_tp_comm_s", "TP comm"),
    ("time_pp_comm_s", "PP comm"),
    ("time_dp_comm_s", "DP comm"),
    ("time_offload_s", "offload"),
)


@dataclass
class Panel:
    """One section of a study page.

    Attributes:
        id: stable identifier (the plot's div is ``plot-<id>``).
        title: section heading.
        figure: the plotly figure, if any.
        html: an HTML fragment (tables), if any.
        note: plain text shown above the content (or alone when there is no content).
    """

    id: str
    title: str
    figure: go.Figure | None = None
    html: str | None = None
    note: str = ""


def _f32(a: Any) -> np.ndarray:
    return np.asarray(a, dtype=np.float32)


def _fmt(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.6g}"
    return str(v)


def _round(v: Any) -> Any:
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return None if not math.isfinite(f) else float(f"{f:.6g}")
    if isinstance(v, dict):
        return {k: _round(x) for k, x in v.items()}
    return v


LOG_SPAN = 100.0  # a positive metric whose max/min exceeds this (two decades) gets a log axis
SHORT_LABEL = 16  # characters of an axis label before it is abbreviated (full name on hover)


def spans_decades(values: Any) -> bool:
    """Whether finite ``values`` are all positive and span more than two decades (log axis)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return bool(len(v) and v.min() > 0 and v.max() / v.min() > LOG_SPAN)


def short_label(name: str, limit: int = SHORT_LABEL) -> str:
    """An axis label short enough to sit beside its neighbours: namespace dropped, then cut.

    ``sparse_gemm.area_rel [x RASA-DM]`` becomes ``area_rel [x RASA-DM]``, then ``area_rel [x
    RA…`` if still longer than ``limit``; the full name goes in the hover text.
    """
    head, _, unit = name.partition(" [")
    head = head.rsplit(".", 1)[-1]
    text = f"{head} [{unit}" if unit else head
    return text if len(text) <= limit else text[: limit - 1] + "…"


def unique_short_label(name: str, limit: int, taken: dict[str, str]) -> str:
    """:func:`short_label`, cut in the middle instead when that is taken (``parameter_1…`` and
    ``parameter_10…`` stay apart as ``param…ter_1`` ...), numbered as a last resort."""
    short = short_label(name, limit)
    if short not in taken:
        return short
    whole = short_label(name, 10_000)
    head = max(1, limit // 2 - 1)
    short = whole[:head] + "…" + whole[-(limit - head - 1):]
    n = 2
    while short in taken:
        short = f"{whole[: max(1, limit - 4)]}…#{n}"
        n += 1
    return short


def wrapped_label(name: str, width: int = 18) -> str:
    """An axis title broken into lines of about ``width`` characters (3-D scene titles)."""
    lines: list[str] = []
    for word in re.split(r"(?<=[._ ])", name):
        if lines and len(lines[-1]) + len(word) <= width:
            lines[-1] += word
        else:
            lines.append(word)
    return "<br>".join(html.escape(line.strip()) for line in lines)


def _hide_infeasible(data: StudyData) -> bool:
    """Infeasible points start hidden (a legend click shows them) when they outnumber the front."""
    c = data.complete
    return int((~c["feasible"]).sum()) > int(c["pareto"].sum())


def trials_payload(data: StudyData) -> dict[str, Any]:
    """Every trial's configuration and metrics, compact, for the page's details panel."""
    return {str(n): _round(cfg) for n, cfg in data.configs().items()}


def study_reference(data: StudyData) -> Reference | None:
    """The study's hypervolume reference (the one fixed with the study, else provisional)."""
    if data.n_objectives < 2:
        return None
    return engine_study_reference(data.user_attrs, data.directions, data.values_min(),
                                  data.trials["feasible"].to_numpy(dtype=bool)
                                  if "feasible" in data.trials else None)


# -- Pareto views -----------------------------------------------------------------------------


def _groups(data: StudyData) -> list[tuple[str, pd.DataFrame, dict[str, Any]]]:
    c = data.complete
    pareto = c[c["pareto"]]
    dominated = c[~c["pareto"] & c["feasible"]]
    infeasible = c[~c["feasible"]]
    return [
        ("dominated", dominated, {"color": DOMINATED_COLOR, "size": 5}),
        ("infeasible", infeasible, {"color": INFEASIBLE_COLOR, "size": 6, "symbol": "x"}),
        ("Pareto front", pareto, {"color": PARETO_COLOR, "size": 9, "line": {"width": 1}}),
    ]


def _group_trace_args(data: StudyData, name: str, frame: pd.DataFrame) -> dict[str, Any]:
    """Legend name and visibility of one point group (infeasible ones may start hidden)."""
    if name == "infeasible" and _hide_infeasible(data):
        return {"name": f"infeasible ({len(frame)}, hidden: click to show)",
                "visible": "legendonly"}
    return {"name": f"{name} ({len(frame)})"}


def _axis_types(data: StudyData) -> list[str]:
    """``log`` for each objective whose plotted values span more than two decades."""
    vals = data.values(data.complete)
    return ["log" if spans_decades(vals[:, k]) else "linear" for k in range(data.n_objectives)]


def _exponents(data: StudyData) -> list[str]:
    """Plotly ``exponentformat`` per objective: SI (``140M``, ``35B``) up to 1e12, beyond that
    ``4.5e+19`` (plotly's power format renders as ``4.5×10¹⁹`` in small type, hard to read)."""
    vals = np.abs(data.values(data.complete))
    return ["e" if len(vals) and np.nanmax(vals[:, k]) >= 1e12 else "B"
            for k in range(data.n_objectives)]


def _hover_texts(data: StudyData, frame: pd.DataFrame) -> list[str]:
    texts = []
    for cfg in data.configs(frame.index).values():
        items = list(cfg["params"].items()) + list(cfg.get("metrics", {}).items())
        lines = [f"{html.escape(str(k))} = {html.escape(_fmt(v))}" for k, v in items]
        if len(lines) > MAX_HOVER_ITEMS:
            lines = lines[:MAX_HOVER_ITEMS] + [f"... {len(lines) - MAX_HOVER_ITEMS} more"]
        texts.append("<br>".join(lines))
    return texts


def _hovertemplate(data: StudyData, axes: list[str], idx: list[int], with_text: bool) -> str:
    lines = ["<b>trial %{customdata}</b>"]
    for ax, i in zip(axes, idx, strict=True):
        lines.append(f"{html.escape(data.labels[i])} = %{{{ax}:.6g}}")
    if with_text:
        lines.append("%{text}")
    return "<br>".join(lines) + "<extra>%{fullData.name}</extra>"


def pareto_2d(data: StudyData, i: int = 0, j: int = 1) -> go.Figure:
    """Scatter of two objectives: front (blue, joined), dominated (grey), infeasible (red x)."""
    fig = go.Figure()
    big = len(data.complete) > WEBGL_ABOVE
    scatter = go.Scattergl if big else go.Scatter
    for name, frame, marker in _groups(data):
        if frame.empty:
            continue
        vals = data.values(frame)
        is_front = name == "Pareto front"
        fig.add_trace(
            scatter(
                x=_f32(vals[:, i]),
                y=_f32(vals[:, j]),
                mode="markers",
                marker=marker,
                customdata=frame.index.to_numpy(dtype=np.int32),
                text=_hover_texts(data, frame) if is_front else None,
                hovertemplate=_hovertemplate(data, ["x", "y"], [i, j], is_front),
                **_group_trace_args(data, name, frame),
            )
        )
        if is_front and len(frame) > 1:
            order = np.argsort(vals[:, i])
            fig.add_trace(
                scatter(
                    x=_f32(vals[order, i]),
                    y=_f32(vals[order, j]),
                    mode="lines",
                    line={"color": PARETO_COLOR, "width": 1, "dash": "dot", "shape": "hv"},
                    hoverinfo="skip",
                    showlegend=False,
                )
            )
    types, exps = _axis_types(data), _exponents(data)
    fig.update_layout(
        xaxis={"title": {"text": data.labels[i]}, "type": types[i], "exponentformat": exps[i]},
        yaxis={"title": {"text": data.labels[j]}, "type": types[j], "exponentformat": exps[j]},
        legend={"orientation": "h", "y": -0.18},
        margin={"t": 30},
    )
    return fig


def pareto_3d(data: StudyData) -> go.Figure:
    """3-D scatter of the first three objectives, same colour code as the 2-D view."""
    fig = go.Figure()
    for name, frame, marker in _groups(data):
        if frame.empty:
            continue
        vals = data.values(frame)
        is_front = name == "Pareto front"
        m = dict(marker)
        m["size"] = 5 if is_front else 2.5
        m.pop("line", None)
        if m.get("symbol") == "x":
            m["symbol"] = "x"
        fig.add_trace(
            go.Scatter3d(
                x=_f32(vals[:, 0]),
                y=_f32(vals[:, 1]),
                z=_f32(vals[:, 2]),
                mode="markers",
                marker=m,
                customdata=frame.index.to_numpy(dtype=np.int32),
                text=_hover_texts(data, frame) if is_front else None,
                hovertemplate=_hovertemplate(data, ["x", "y", "z"], [0, 1, 2], is_front),
                **_group_trace_args(data, name, frame),
            )
        )
    types, exps = _axis_types(data), _exponents(data)
    # Long titles are wrapped, and the camera steps back, so no title runs out of the scene.
    axes = {
        f"{ax}axis": {"title": {"text": wrapped_label(data.labels[k]), "font": {"size": 12}},
                      "type": types[k], "exponentformat": exps[k], "tickfont": {"size": 10}}
        for k, ax in enumerate("xyz")
    }
    fig.update_layout(
        scene={**axes, "camera": {"eye": {"x": 1.6, "y": 1.6, "z": 1.0}}},
        legend={"orientation": "h"},
        margin={"t": 30, "l": 10, "r": 10, "b": 10},
        height=640,
    )
    return fig


def pareto_matrix(data: StudyData) -> go.Figure:
    """Scatter matrix of all objectives (for three or more)."""
    fig = go.Figure()
    for name, frame, marker in _groups(data):
        if frame.empty:
            continue
        vals = data.values(frame)
        m = dict(marker)
        m["size"] = 6 if name == "Pareto front" else 3
        m.pop("line", None)
        fig.add_trace(
            go.Splom(
                dimensions=[
                    {"label": data.labels[k], "values": _f32(vals[:, k])}
                    for k in range(data.n_objectives)
                ],
                marker=m,
                customdata=frame.index.to_numpy(dtype=np.int32),
                hovertemplate="<b>trial %{customdata}</b><extra>%{fullData.name}</extra>",
                diagonal_visible=False,
                showupperhalf=False,
                **_group_trace_args(data, name, frame),
            )
        )
    size = 220 * data.n_objectives
    axes: dict[str, Any] = {}
    for k, (kind, exp) in enumerate(zip(_axis_types(data), _exponents(data), strict=True)):
        suffix = "" if k == 0 else str(k + 1)
        common = {"type": kind, "exponentformat": exp, "tickfont": {"size": 10}}
        axes[f"xaxis{suffix}"] = {**common, "nticks": 5}
        axes[f"yaxis{suffix}"] = {**common, "nticks": 6}
    fig.update_layout(height=max(450, size), legend={"orientation": "h"}, margin={"t": 30},
                      font={"size": 11}, **axes)
    return fig


PARCOORDS_WIDTH_PX = 860  # axis span the labels fit: a 1400 px window less the side panel
PARCOORDS_CHAR_PX = 6.5  # width of one label character at the parcoords' 11 px font
MAX_PARCOORDS_PARAMS = 12  # params shown at first; the rest can be ticked on under the plot


def tick_format(values: np.ndarray) -> str:
    """A d3 format that never prints ``4.5×10<sup>19</sup>``: plain up to 1e6, else ``4.5e+19``."""
    v = np.abs(values[np.isfinite(values)])
    v = v[v > 0]
    if len(v) and (v.max() >= 1e6 or v.max() < 1e-3):
        return ".3~e"
    return ",.6~g"


def _numeric_dimension(label: str, v: np.ndarray) -> dict[str, Any]:
    """One numeric parcoords axis: log10 with power-of-ten ticks when it spans two decades."""
    if spans_decades(v):
        lg = np.log10(v)
        lo, hi = int(np.floor(np.nanmin(lg))), int(np.ceil(np.nanmax(lg)))
        step = max(1, (hi - lo + 5) // 6)  # at most ~6 ticks
        ticks = list(range(lo, hi + 1, step))
        return {"label": f"{label} (log)", "values": _f32(lg), "tickvals": ticks,
                "ticktext": [f"1e{k}" for k in ticks]}
    return {"label": label, "values": _f32(v), "tickformat": tick_format(v)}


def _param_dimensions(data: StudyData, c: pd.DataFrame) -> list[dict[str, Any]]:
    params = data.params.loc[c.index]
    dims: list[dict[str, Any]] = []
    for name in list(params.columns)[:30]:
        col = params[name]
        if col.isna().all():
            continue
        numeric = pd.to_numeric(col, errors="coerce")
        if numeric.notna().sum() == col.notna().sum() and numeric.notna().any():
            v = numeric.to_numpy(dtype=np.float64)
            if np.isnan(v).any():  # conditional parameter: show "absent" just below the range
                dim = _numeric_dimension(f"{name} (n/a at bottom)", np.where(np.isnan(v), 1, v))
                shown = np.asarray(dim["values"], dtype=np.float64)
                shown[np.isnan(v)] = np.nan
                lo, hi = np.nanmin(shown), np.nanmax(shown)
                dim["values"] = _f32(np.where(np.isnan(v), lo - 0.1 * ((hi - lo) or 1.0), shown))
            else:
                dim = _numeric_dimension(str(name), v)
            dim["varies"] = bool(np.nanmax(v) > np.nanmin(v)) if np.isfinite(v).any() else False
            dims.append(dim)
        else:
            cats = sorted({str(x) for x in col.fillna("n/a")})
            codes = col.fillna("n/a").astype(str).map({k: i for i, k in enumerate(cats)})
            dims.append(
                {
                    "label": str(name),
                    "values": codes.to_numpy(dtype=np.float32),
                    "tickvals": list(range(len(cats))),
                    "ticktext": [short_label(k, 12) for k in cats],
                    "varies": len(cats) > 1,
                }
            )
    return dims


def parallel_coordinates(data: StudyData) -> go.Figure | None:
    """Parallel coordinates over params and objectives, with a button to keep only the front.

    Labels are abbreviated to fit the axis spacing (rotated when even that is too tight); the
    full names are in ``layout.meta.fullLabels`` (the page's script puts them in each label's
    hover title) and every axis can be ticked on or off under the plot (``axisPicker``). Ticks
    are plain numbers, ``4.5e+19`` for big ones, and log10 for axes spanning two decades.
    """
    c = data.complete
    if c.empty:
        return None
    dims = _param_dimensions(data, c)
    # The most informative params first: the ones that vary, up to MAX_PARCOORDS_PARAMS shown.
    shown = 0
    for dim in dims:
        dim["visible"] = bool(dim.pop("varies")) and shown < MAX_PARCOORDS_PARAMS
        shown += int(dim["visible"])
    vals = data.values(c)
    for k in range(data.n_objectives):
        dims.append({**_numeric_dimension(data.labels[k], vals[:, k]), "visible": True})
    front_flag = c["pareto"].to_numpy(dtype=np.float32)
    dims.append(
        {
            "label": "on Pareto front",
            "values": front_flag,
            "tickvals": [0, 1],
            "ticktext": ["no", "yes"],
            "range": [-0.1, 1.1],
            "visible": True,
        }
    )
    k_front = len(dims) - 1
    n_visible = sum(bool(d["visible"]) for d in dims)
    spacing = PARCOORDS_WIDTH_PX / max(1, n_visible - 1)
    limit = int(spacing / PARCOORDS_CHAR_PX) - 1
    angle = 0 if limit >= 10 else -30
    limit = max(limit, 10) if angle == 0 else 18
    full: dict[str, str] = {}
    for dim in dims:
        short = unique_short_label(str(dim["label"]), limit, full)
        full[short] = dim["label"]
        dim["label"] = short
    fig = go.Figure(
        go.Parcoords(
            dimensions=dims,
            labelangle=angle,
            labelfont={"size": 11},
            tickfont={"size": 10},
            rangefont={"size": 9},
            line={
                "color": front_flag,
                "colorscale": [[0, "rgba(170,170,170,0.35)"], [1, PARETO_COLOR]],
                "cmin": 0,
                "cmax": 1,
            },
        )
    )
    fig.update_layout(
        meta={"fullLabels": full, "axisPicker": True},
        # The buttons go under the axes: above, the (rotated) labels need all the room.
        margin={"t": 140 if angle else 90, "l": 70, "r": 70, "b": 70},
        height=520,
        updatemenus=[
            {
                "type": "buttons",
                "direction": "right",
                "x": 0,
                "y": -0.08,
                "yanchor": "top",
                "xanchor": "left",
                "buttons": [
                    {
                        "label": "all trials",
                        "method": "restyle",
                        "args": [{f"dimensions[{k_front}].constraintrange": [None]}],
                    },
                    {
                        "label": "Pareto front only",
                        "method": "restyle",
                        "args": [{f"dimensions[{k_front}].constraintrange": [[0.5, 1.5]]}],
                    },
                ],
            }
        ],
    )
    return fig


# -- progress ---------------------------------------------------------------------------------


def _steps(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep only the points where a step curve changes (and the last one)."""
    if len(y) == 0:
        return x, y
    keep = np.ones(len(y), dtype=bool)
    keep[1:] = y[1:] != y[:-1]
    keep[-1] = True
    return x[keep], y[keep]


def hypervolume_figure(data: StudyData, ref: Reference) -> tuple[go.Figure, float]:
    """Hypervolume over trials and over wall-clock time, reference point in the caption."""
    t = data.trials
    finished = t[t["state"] == "COMPLETE"]
    vals = ref.normalize(data.values_min(finished))
    feas = finished["feasible"].to_numpy(dtype=bool)
    # Up to 3 objectives the exact history is cheap (O(n^2) per front change at worst); only
    # 4+ objectives get a time budget, so a loaded machine never cuts a 2-D or 3-D history.
    budget = HISTORY_BUDGET_S if data.n_objectives >= 4 else None
    by_number = hypervolume_history(vals, ref.point, feas, budget)
    order = np.argsort(finished["elapsed_s"].to_numpy(dtype=np.float64), kind="stable")
    if np.array_equal(order, np.arange(len(order))):  # serial study: same order, same history
        by_time = by_number
    else:
        by_time = hypervolume_history(vals[order], ref.point, feas[order], budget)
    done = np.isfinite(by_number)
    by_number, by_time = by_number[done], by_time[np.isfinite(by_time)]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("over trials", "over wall-clock time"))
    x, y = _steps(finished.index.to_numpy(dtype=np.float64)[done], by_number)
    fig.add_trace(go.Scatter(x=x, y=y, mode="lines", line_shape="hv", name="by trial"), 1, 1)
    secs = finished["elapsed_s"].to_numpy(dtype=np.float64)[order][: len(by_time)]
    x, y = _steps(secs, by_time)
    fig.add_trace(go.Scatter(x=x, y=y, mode="lines", line_shape="hv", name="by time"), 1, 2)
    final = float(by_number[-1]) if len(by_number) else 0.0
    complete = bool(done.all())
    data.cache["hypervolume"] = (final, complete)
    units = ref.point_in_units(data.directions)
    stated = ", ".join(f"{n} = {_fmt(v)}" for n, v in zip(data.labels, units, strict=True))
    caption = (
        f"reference point: {html.escape(stated)} "
        f"({'fixed with the study' if ref.fixed else 'not fixed yet'}: {html.escape(ref.source)}; "
        f"normalised {', '.join(_fmt(p) for p in ref.point)})<br>"
        "hypervolume in normalised units (ideal = 0, nadir = 1 per objective)"
    )
    if not complete:
        where = f"after trial {int(finished.index[done][-1])}" if done.any() else "at the start"
        caption += (
            f"<br>history stops {where}: the exact {data.n_objectives}-objective "
            f"hypervolume used up its {HISTORY_BUDGET_S:g} s budget"
        )
    fig.update_layout(
        showlegend=False,
        margin={"t": 40, "b": 90},
        annotations=list(fig.layout.annotations)
        + [
            {
                "text": caption,
                "xref": "paper",
                "yref": "paper",
                "x": 0,
                "y": -0.3,
                "showarrow": False,
                "xanchor": "left",
                "font": {"size": 11},
            }
        ],
    )
    fig.update_xaxes(title_text="trial", row=1, col=1)
    fig.update_xaxes(title_text="seconds since start", row=1, col=2)
    fig.update_yaxes(title_text="hypervolume", row=1, col=1)
    return fig, final


def sweep_summary(data: StudyData) -> dict[str, Any] | None:
    """The sweep's own record (study attr ``dse.sweep_summary``) for a sweep study, else None."""
    summary = data.user_attrs.get("dse.sweep_summary")
    if data.user_attrs.get("dse.mode") != "sweep" or not isinstance(summary, dict):
        return None
    return summary


def sweep_progress_figure(data: StudyData, summary: dict[str, Any]) -> go.Figure | None:
    """A sweep's front size and hypervolume against the points it had evaluated.

    From the per-chunk history ``dse run`` keeps in ``dse.sweep_summary["history"]``; the
    hypervolume there is under the study's fixed reference, the same as everywhere else.
    """
    history = summary.get("history")
    if not isinstance(history, dict) or not history.get("evaluated"):
        return None
    x = np.asarray(history["evaluated"], dtype=np.float64)
    front = np.asarray(history.get("front", []), dtype=np.float64)
    hv = np.asarray([np.nan if v is None else v for v in history.get("hypervolume", [])],
                    dtype=np.float64)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("front size", "hypervolume"),
                        horizontal_spacing=0.12)
    fig.add_trace(go.Scatter(x=x, y=front, mode="lines+markers", line_shape="hv",
                             name="front size", marker={"size": 4}), 1, 1)
    if np.isfinite(hv).any():
        fig.add_trace(go.Scatter(x=x, y=hv, mode="lines+markers", line_shape="hv",
                                 name="hypervolume", marker={"size": 4}), 1, 2)
    kind = "log" if spans_decades(x) else "linear"
    for col in (1, 2):
        fig.update_xaxes(title_text="points evaluated", type=kind, row=1, col=col)
    fig.update_yaxes(title_text="designs on the front", row=1, col=1)
    fig.update_yaxes(title_text="hypervolume (normalised)", row=1, col=2)
    fig.update_layout(showlegend=False, margin={"t": 40})
    return fig


def _sweep_progress_panel(data: StudyData, summary: dict[str, Any]) -> Panel:
    title = "Sweep progress: front and hypervolume against points evaluated"
    evaluated = int(summary.get("evaluated", 0))
    seconds = summary.get("seconds")
    done = (f"The sweep evaluated {evaluated:,} points"
            + (f" in {_fmt(seconds)} s" if seconds is not None else "")
            + f" and kept a front of {int(summary.get('front', 0)):,}.")
    fig = sweep_progress_figure(data, summary)
    if fig is None:
        return Panel("sweep", title, note=done + " It recorded no per-chunk history (swept "
                     "before dse kept one), so there is no progress curve to draw.")
    ref = study_reference(data)
    caption = "" if ref is None else (
        f" Hypervolume under the study's {'fixed' if ref.fixed else 'provisional'} reference "
        f"({ref.source}), in normalised units.")
    return Panel("sweep", title, figure=fig, note=done + caption + " Trial-order plots "
                 "(hypervolume over trials, best so far, constraint rate) are left out: a "
                 "sweep's trials are its front and sample, recorded in no meaningful order.")


def best_so_far_figure(data: StudyData) -> go.Figure | None:
    """Best feasible value so far, one subplot per objective."""
    c = data.complete
    c = c[c["feasible"]]
    if c.empty:
        return None
    m = data.n_objectives
    fig = make_subplots(rows=1, cols=m, subplot_titles=data.labels)
    vals = data.values(c)
    x = c.index.to_numpy(dtype=np.float64)
    types, exps = _axis_types(data), _exponents(data)
    for k in range(m):
        acc = np.minimum if data.directions[k] == "minimize" else np.maximum
        best = acc.accumulate(vals[:, k])
        if len(c) <= WEBGL_ABOVE:
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=vals[:, k],
                    mode="markers",
                    marker={"size": 3, "color": DOMINATED_COLOR},
                    name="trial value",
                    showlegend=k == 0,
                ),
                1,
                k + 1,
            )
        sx, sy = _steps(x, best)
        fig.add_trace(
            go.Scatter(
                x=sx,
                y=sy,
                mode="lines",
                line_shape="hv",
                line={"color": PARETO_COLOR},
                name="best so far",
                showlegend=k == 0,
            ),
            1,
            k + 1,
        )
        fig.update_xaxes(title_text="trial", row=1, col=k + 1)
        fig.update_yaxes(exponentformat=exps[k], type=types[k], row=1, col=k + 1)
    fig.update_layout(margin={"t": 40}, legend={"orientation": "h", "y": -0.25})
    return fig


def violation_figure(data: StudyData) -> go.Figure | None:
    """Share of finished trials violating a constraint: cumulative and rolling."""
    t = data.trials[data.trials["state"] == "COMPLETE"]
    if t.empty or data.constraints.shape[1] == 0:
        return None
    infeasible = (~t["feasible"]).to_numpy(dtype=np.float64)
    x = t.index.to_numpy(dtype=np.float64)
    window = max(10, len(t) // 20)
    rolling = pd.Series(infeasible).rolling(window, min_periods=1).mean().to_numpy()
    cumulative = np.cumsum(infeasible) / np.arange(1, len(t) + 1)
    step = max(1, len(t) // 2000)  # these curves are smooth; 2000 points are plenty
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=x[::step], y=_f32(cumulative[::step]), name="cumulative", mode="lines")
    )
    fig.add_trace(
        go.Scatter(
            x=x[::step], y=_f32(rolling[::step]), name=f"last {window} trials", mode="lines"
        )
    )
    cons = data.constraints.loc[t.index].apply(pd.to_numeric, errors="coerce")
    if cons.shape[1] <= 8:
        for name in cons.columns:
            viol = (cons[name].to_numpy(dtype=np.float64) > 0).astype(np.float64)
            cum = np.cumsum(viol) / np.arange(1, len(t) + 1)
            fig.add_trace(
                go.Scatter(
                    x=x[::step],
                    y=_f32(cum[::step]),
                    name=f"{name} (cumulative)",
                    mode="lines",
                    line={"dash": "dot"},
                )
            )
    fig.update_layout(
        xaxis_title="trial",
        yaxis_title="fraction of trials infeasible",
        yaxis_range=[0, 1.02],
        margin={"t": 30},
        legend={"orientation": "h", "y": -0.25},
    )
    return fig


def _importance_study(data: StudyData) -> tuple[Any, list[str]]:
    """The study itself, or a seeded random sample of its completed trials for big studies.

    PED-ANOVA's cost grows with the number of trials; a uniform sample of a few thousand
    estimates the same quantile-based importances well enough for a report.
    """
    import optuna

    complete = data.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(complete) <= MAX_IMPORTANCE_TRIALS:
        return data.study, []
    rng = np.random.default_rng(0)
    keep = np.sort(rng.choice(len(complete), MAX_IMPORTANCE_TRIALS, replace=False))
    sample = optuna.create_study(
        storage=optuna.storages.InMemoryStorage(), directions=data.study.directions
    )
    sample.add_trials([complete[i] for i in keep])
    note = f"estimated on a random sample of {MAX_IMPORTANCE_TRIALS} of {len(complete)} trials"
    return sample, [note]


def _all_equal(values: list[float]) -> bool:
    """Whether importances are all the same (to 1 % of the largest): no ranking to draw."""
    v = np.asarray(values, dtype=np.float64)
    return bool(np.ptp(v) <= 0.01 * max(float(np.abs(v).max()), 1e-12))


def importance_figure(data: StudyData) -> tuple[go.Figure | None, str]:
    """Parameter importance per objective (Optuna's default evaluator, PED-ANOVA)."""
    import optuna

    # Optuna's evaluator reads every COMPLETE trial: count those (not only the finite ones).
    n_complete = int((data.trials["state"] == "COMPLETE").sum())
    if n_complete < MIN_IMPORTANCE_TRIALS:
        return None, (
            f"parameter importance needs at least {MIN_IMPORTANCE_TRIALS} completed trials "
            f"(this study has {n_complete})"
        )
    m = data.n_objectives
    study, problems = _importance_study(data)
    # Two panels a row at most: each keeps room for its parameter names and its title.
    cols = min(m, 2)
    n_rows = -(-m // cols)
    fig = make_subplots(rows=n_rows, cols=cols, horizontal_spacing=0.3 if cols > 1 else 0.1,
                        vertical_spacing=0.3 / n_rows if n_rows > 1 else 0.3,
                        subplot_titles=[short_label(lab, 40) for lab in data.labels])
    drawn = 0
    for k in range(m):
        sign = -1.0 if data.directions[k] == "maximize" else 1.0

        def target(t: Any, k: int = k, sign: float = sign) -> float:
            return sign * float(t.values[k])

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                imp = optuna.importance.get_param_importances(
                    study, target=target if m > 1 else None
                )
        except (RuntimeError, ValueError, ZeroDivisionError) as err:
            problems.append(f"{data.objectives[k]}: {err}")
            continue
        if not imp:
            continue
        if len(imp) > 1 and _all_equal(list(imp.values())):
            problems.append(
                f"{data.objectives[k]}: every parameter gets the same importance "
                f"({_fmt(next(iter(imp.values())))}), i.e. PED-ANOVA tells none of them apart "
                f"on these {n_complete} trials"
            )
            continue
        names = list(imp)[:15][::-1]
        fig.add_trace(
            go.Bar(
                x=[imp[n] for n in names],
                y=names,
                orientation="h",
                marker={"color": PARETO_COLOR},
                showlegend=False,
                hovertemplate="%{y}: %{x:.3f}<extra></extra>",
            ),
            k // cols + 1,
            k % cols + 1,
        )
        fig.update_xaxes(title_text="importance", row=k // cols + 1, col=k % cols + 1)
        fig.update_yaxes(tickfont={"size": 11}, row=k // cols + 1, col=k % cols + 1)
        drawn += 1
    note = "; ".join(problems)
    if not drawn:
        return None, note or "no parameter varies, so there is no importance to show"
    fig.update_layout(margin={"t": 40, "l": 150}, height=max(300, n_rows * (90 + 22 * 15)))
    return fig, note


# -- Pareto table -----------------------------------------------------------------------------


def config_filename(number: int) -> str:
    """File name of one exported trial configuration (relative to the study's config folder)."""
    return f"trial-{int(number)}.json"


def pareto_table(data: StudyData, config_dir: str) -> tuple[str, str]:
    """A sortable HTML table of the Pareto set (click a header to sort)."""
    front = data.trials[data.trials["pareto"]]
    note = ""
    if len(front) > MAX_TABLE_ROWS:
        note = f"showing the first {MAX_TABLE_ROWS} of {len(front)} Pareto configurations"
    front = front.sort_values(data.objectives[0]).head(MAX_TABLE_ROWS)
    params = data.params.loc[front.index] if len(front) else data.params.iloc[:0]
    params = params.dropna(axis=1, how="all")
    heads = ["trial", *data.labels, *params.columns]
    out = ['<table class="sortable pareto-table"><thead><tr>']
    out += [f'<th data-col="{i}">{html.escape(str(h))}</th>' for i, h in enumerate(heads)]
    out.append("</tr></thead><tbody>")
    for number, row in front.iterrows():
        href = html.escape(f"{config_dir}/{config_filename(int(number))}")
        cells = [f'<td data-v="{int(number)}"><a href="{href}">#{int(number)}</a></td>']
        for name in data.objectives:
            cells.append(f'<td data-v="{float(row[name])!r}">{_fmt(row[name])}</td>')
        for name in params.columns:
            v = params.at[number, name]
            sort_v = html.escape(repr(float(v)) if isinstance(v, (int, float)) else str(v))
            cells.append(f'<td data-v="{sort_v}">{html.escape(_fmt(v))}</td>')
        out.append(f'<tr data-trial="{int(number)}">{"".join(cells)}</tr>')
    out.append("</tbody></table>")
    return "".join(out), note


# -- domain views -----------------------------------------------------------------------------


def _namespaces(data: StudyData, model: str) -> list[dict[str, Any]]:
    return [m for m in data.models if m.get("model") == model]


def _local_params(data: StudyData, number: int, ns: str) -> dict[str, Any]:
    return data.model_inputs(number).get(ns, {})


def _pareto_numbers(data: StudyData, limit: int = MAX_DOMAIN_CONFIGS) -> list[int]:
    front = data.trials[data.trials["pareto"]].sort_values(data.objectives[0])
    return [int(n) for n in front.index[:limit]]


def cluster_view(data: StudyData) -> Panel | None:
    """Training-cluster time breakdown of the Pareto configs as stacked bars."""
    pattern = re.compile(r"^(?:(.+)\.)?(time_[a-z_]+_s)$")
    namespaces: dict[str, list[str]] = {}
    for col in data.metrics.columns:
        mt = pattern.match(str(col))
        if mt and mt.group(2) in dict(CLUSTER_TIMES):
            namespaces.setdefault(mt.group(1) or "", []).append(mt.group(2))
    declared = {m.get("namespace", "") for m in _namespaces(data, "cluster")}
    if declared:
        namespaces = {ns: v for ns, v in namespaces.items() if ns in declared}
    if not namespaces:
        return None
    ns = sorted(namespaces)[0]
    numbers = _pareto_numbers(data)
    if not numbers:
        return Panel("cluster", "Cluster time breakdown", note="no Pareto configurations yet")
    fig = go.Figure()
    labels = [f"#{n}" for n in numbers]
    for key, label in CLUSTER_TIMES:
        col = f"{ns}.{key}" if ns else key
        if col not in data.metrics.columns:
            continue
        y = pd.to_numeric(data.metrics.loc[numbers, col], errors="coerce").to_numpy()
        fig.add_trace(
            go.Bar(
                x=labels,
                y=y,
                name=label,
                customdata=np.asarray(numbers, dtype=np.int32),
                hovertemplate=f"trial %{{customdata}}<br>{label}: %{{y:.4g}} s<extra></extra>",
            )
        )
    fig.update_layout(
        barmode="stack",
        xaxis_title=f"Pareto configuration (sorted by {data.objectives[0]})",
        yaxis_title="time per iteration [s]",
        margin={"t": 30},
        legend={"orientation": "h", "y": -0.3},
    )
    return Panel("cluster", f"Cluster time breakdown ({ns or 'cluster'})", figure=fig)


def _breakdown_rows(
    data: StudyData, entry: dict[str, Any], numbers: list[int]
) -> tuple[list[tuple[int, list[dict[str, Any]]]], str]:
    """Per-config detail rows from ``costmodels.get_model(...).breakdown``, or why not."""
    try:
        import costmodels

        model = costmodels.get_model(str(entry["model"]), **dict(entry.get("options") or {}))
    except Exception as err:  # noqa: BLE001 - any import/registry problem only hides this view
        return [], f"model {entry.get('model')!r} is not importable here: {err}"
    rows: list[tuple[int, list[dict[str, Any]]]] = []
    failures = 0
    for n in numbers:
        try:
            rows.append((n, list(model.breakdown(_local_params(data, n, entry["namespace"])))))
        except Exception:  # noqa: BLE001 - one bad config must not hide the others
            failures += 1
    note = f"breakdown failed for {failures} configuration(s)" if failures else ""
    return rows, note


def engine_view(data: StudyData) -> Panel | None:
    """Sparse matrix engine: binding bound and utilization per layer for the Pareto configs."""
    entries = _namespaces(data, "sparse_gemm")
    if not entries:
        return None
    entry = entries[0]
    title = f"Engine binding bound and utilization per layer ({entry.get('namespace')})"
    numbers = _pareto_numbers(data)
    if not numbers:
        return Panel("engine", title, note="no Pareto configurations yet")
    rows, note = _breakdown_rows(data, entry, numbers)
    layers: list[str] = []
    for _, rs in rows:
        for r in rs:
            name = str(r.get("layer", ""))
            if name not in layers:
                layers.append(name)
    if not layers:
        return Panel("engine", title, note=note or "the model reports no per-layer breakdown")
    util = np.full((len(rows), len(layers)), np.nan)
    bound = [["" for _ in layers] for _ in rows]
    for i, (_, rs) in enumerate(rows):
        for r in rs:
            j = layers.index(str(r.get("layer", "")))
            u = r.get("utilization")
            util[i, j] = float(u) if isinstance(u, (int, float)) else np.nan
            bound[i][j] = str(r.get("bound", ""))
    fig = go.Figure(
        go.Heatmap(
            z=util,
            x=layers,
            y=[f"#{n}" for n, _ in rows],
            text=bound,
            # Cell labels only while they stay legible; the hover always names the bound.
            texttemplate="%{text}" if util.size <= MAX_LABELLED_CELLS else None,
            # A fixed size: plotly otherwise shrinks cell labels to fit, down to unreadable.
            textfont={"size": 11},
            colorscale="Blues",
            zmin=0,
            zmax=1,
            colorbar={"title": "utilization"},
            hovertemplate="%{y} %{x}<br>bound: %{text}<br>utilization %{z:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        xaxis={"title": {"text": "layer"}, "tickfont": {"size": 11}, "automargin": True},
        yaxis={"title": {"text": "Pareto configuration"}, "tickfont": {"size": 11},
               "automargin": True},
        height=max(320, 120 + 26 * len(rows)),
        margin={"t": 30},
    )
    return Panel("engine", title, figure=fig, note=note)


def _column(data: StudyData, name: str) -> pd.Series | None:
    if name in data.objectives:
        return data.trials[name]
    if name in data.metrics.columns:
        return pd.to_numeric(data.metrics[name], errors="coerce")
    return None


_BUFFER_NAME = re.compile(r"(^|_)(pb|buf|buffer)(_|$)")


def _buffer_params(data: StudyData, ns: str) -> list[str]:
    """Searched buffer-size params of a namespace, the persistent buffer (``pb``) first."""
    local = {
        str(p)[len(ns) + 1 :]: str(p) for p in data.params.columns if str(p).startswith(f"{ns}.")
    }
    hits = [name for name in local if _BUFFER_NAME.search(name)]
    hits.sort(key=lambda name: (not name.startswith("pb"), name))
    return [local[name] for name in hits]


def serving_view(data: StudyData) -> Panel | None:
    """SuperNet serving: latency, accuracy and off-chip energy against buffer size."""
    entries = _namespaces(data, "sushi")
    if not entries:
        return None
    ns = str(entries[0].get("namespace", "sushi"))
    title = f"Serving: latency, accuracy and energy vs buffer size ({ns})"
    buffers = _buffer_params(data, ns)
    if not buffers:
        return Panel("serving", title, note="no buffer-size parameter in this study")
    names = [*data.objectives, *map(str, data.metrics.columns)]
    wanted = []
    for key in ("latency", "acc", "energy"):
        hits = [n for n in names if n.startswith(f"{ns}.") and key in n.rsplit(".", 1)[-1]]
        if hits:
            wanted.append(hits[0])
    if not wanted:
        return Panel("serving", title, note="no latency/accuracy/energy metrics in this study")
    c = data.complete
    x = pd.to_numeric(data.params.loc[c.index, buffers[0]], errors="coerce")
    fig = make_subplots(rows=1, cols=len(wanted), subplot_titles=wanted)
    for k, metric in enumerate(wanted):
        col = _column(data, metric)
        if col is None:
            continue
        y = col.loc[c.index]
        front = c["pareto"].to_numpy(dtype=bool)
        for mask, name, color in (
            (~front, "dominated", DOMINATED_COLOR),
            (front, "Pareto", PARETO_COLOR),
        ):
            fig.add_trace(
                go.Scatter(
                    x=_f32(x[mask]),
                    y=_f32(y[mask]),
                    mode="markers",
                    marker={"color": color, "size": 5 if name == "dominated" else 8},
                    name=name,
                    showlegend=k == 0,
                    customdata=c.index[mask].to_numpy(dtype=np.int32),
                    hovertemplate="trial %{customdata}<br>%{x:.4g}, %{y:.4g}<extra></extra>",
                ),
                1,
                k + 1,
            )
        fig.update_xaxes(title_text=buffers[0], row=1, col=k + 1,
                         type="log" if spans_decades(x) else "linear")
        fig.update_yaxes(type="log" if spans_decades(y) else "linear", row=1, col=k + 1)
    fig.update_layout(margin={"t": 40}, legend={"orientation": "h", "y": -0.25})
    return Panel("serving", title, figure=fig)


def training_view(data: StudyData) -> Panel | None:
    """N:M sparse training: accuracy curves per recipe and seed (``dse.curve``)."""
    entries = _namespaces(data, "nm_training")
    if not entries or not data.curves:
        return None
    entry = entries[0]
    ns = str(entry.get("namespace", "nm_training"))
    options = dict(entry.get("options") or {})

    fixed_params = data.user_attrs.get("dse.fixed")
    fixed_params = fixed_params if isinstance(fixed_params, dict) else {}

    def pick(key: str) -> Callable[[int], Any]:
        # Recipe and seed are searched params, fixed params (study attr dse.fixed), or options.
        name = f"{ns}.{key}"
        if name in data.params.columns:
            return lambda n: data.params.at[n, name]
        value = fixed_params.get(name, options.get(key))
        return lambda n: value

    recipe_of, seed_of = pick("recipe"), pick("seed")
    fig = go.Figure()
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]
    recipes: dict[str, int] = {}
    dashes = ["solid", "dash", "dot", "dashdot", "longdash"]
    for number, (steps, values) in sorted(data.curves.items())[:200]:
        r = str(recipe_of(number) if recipe_of(number) is not None else "all")
        s = seed_of(number)
        ci = recipes.setdefault(r, len(recipes))
        label = f"{r}" + (f", seed {_fmt(s)}" if s is not None else "") + f" (#{number})"
        seed_i = int(s) if isinstance(s, (int, float, np.number)) and not pd.isna(s) else 0
        fig.add_trace(
            go.Scatter(
                x=_f32(steps),
                y=_f32(values),
                mode="lines",
                name=label,
                legendgroup=r,
                line={"color": palette[ci % len(palette)], "dash": dashes[seed_i % len(dashes)]},
                customdata=np.full(len(steps), number, dtype=np.int32),
                hovertemplate=f"{html.escape(label)}<br>step %{{x}}: %{{y:.4g}}<extra></extra>",
            )
        )
    fig.update_layout(
        xaxis_title="step", yaxis_title="accuracy (intermediate value)", margin={"t": 30}
    )
    return Panel("training", f"Training accuracy curves per recipe and seed ({ns})", figure=fig)


# -- assembly ---------------------------------------------------------------------------------


def _guard(panel_id: str, title: str, build: Callable[[], Panel | None]) -> Panel | None:
    """Build one panel; an unexpected error becomes a note on that panel, not a failed page."""
    try:
        return build()
    except Exception as err:  # noqa: BLE001 - keep the rest of the page
        _log.exception("could not build %s", panel_id)
        return Panel(panel_id, title, note=f"could not build this view: {err}")


def _recorded_front(sweep: dict[str, Any], n_front: int) -> str:
    front = int(sweep.get("front", n_front))
    recorded = int(sweep.get("front_recorded", front))
    return f"{front:,} designs" if recorded >= front else f"{recorded:,} of its {front:,} designs"


def study_summary(data: StudyData) -> str:
    """One plain sentence on what the study holds (or why there is nothing to plot)."""
    counts = data.state_counts()
    n = len(data.trials)
    if n == 0:
        return f"Study {data.name!r} has no trials yet."
    parts = ", ".join(f"{v} {k.lower()}" for k, v in sorted(counts.items()))
    text = f"{n} trials ({parts})."
    if data.complete.empty:
        text += " No trial has completed, so there is nothing to plot yet."
    elif data.n_objectives == 1:
        text += (
            " This is a single-objective study: there is no Pareto front or hypervolume; "
            f"the best {data.objectives[0]} is shown below."
        )
    else:
        n_front = int(data.trials["pareto"].sum())
        n_feas = int(data.complete["feasible"].sum())
        text += f" {n_feas} completed trials are feasible; {n_front} are on the Pareto front."
        sweep = sweep_summary(data)
        if sweep is not None and int(sweep.get("evaluated", 0)) > len(data.complete):
            text += (
                f" {len(data.complete):,} of {int(sweep['evaluated']):,} evaluated designs "
                f"shown: the sweep recorded its front ({_recorded_front(sweep, n_front)}) "
                "and a random sample of the rest."
            )
        if _hide_infeasible(data):
            text += (
                f" The {int((~data.complete['feasible']).sum()):,} infeasible points outnumber "
                "the front and start hidden: click 'infeasible' in a legend to show them."
            )
    return text


def fail_reasons(data: StudyData) -> Panel | None:
    failed = data.trials[data.trials["state"] == "FAIL"]
    if failed.empty:
        return None
    reasons = failed["fail_reason"].replace("", "(no reason recorded)").value_counts()
    rows = "".join(
        f"<tr><td>{html.escape(str(r))}</td><td>{int(c)}</td></tr>" for r, c in reasons.items()
    )
    head = "<thead><tr><th>reason</th><th>trials</th></tr></thead>"
    table = f'<table class="sortable">{head}<tbody>{rows}</tbody></table>'
    return Panel("failures", f"Failed trials ({len(failed)})", html=table)


def _figure_panel(panel_id: str, title: str, build: Callable[[], go.Figure | None]) -> Panel:
    fig = build()
    return Panel(panel_id, title, figure=fig, note="" if fig is not None else "nothing to show")


def _progress_panels(data: StudyData) -> list[Panel | None]:
    sweep = sweep_summary(data)
    if sweep is not None:
        return [_guard("sweep", "Sweep progress", lambda: _sweep_progress_panel(data, sweep))]
    ref = study_reference(data)
    panels: list[Panel | None] = []
    if ref is not None:

        def hv() -> Panel:
            fig, final = hypervolume_figure(data, ref)
            complete = data.cache["hypervolume"][1]
            title = f"Hypervolume ({'final' if complete else 'partial'} {_fmt(final)})"
            return Panel("hypervolume", title, figure=fig)

        panels.append(_guard("hypervolume", "Hypervolume", hv))
    panels.append(
        _guard(
            "best",
            "Best so far per objective",
            lambda: _figure_panel(
                "best", "Best so far per objective", lambda: best_so_far_figure(data)
            ),
        )
    )
    if data.constraints.shape[1]:
        panels.append(
            _guard(
                "violations",
                "Constraint-violation rate",
                lambda: _figure_panel(
                    "violations", "Constraint-violation rate", lambda: violation_figure(data)
                ),
            )
        )
    return panels


def _importance_panel(data: StudyData) -> Panel:
    fig, note = importance_figure(data)
    return Panel("importance", "Parameter importance per objective (PED-ANOVA)", fig, note=note)


def _table_panel(data: StudyData, config_dir: str) -> Panel:
    table, note = pareto_table(data, config_dir)
    return Panel("table", "Pareto set", html=table, note=note)


def _cell(v: Any) -> str:
    text = v if isinstance(v, str) else json.dumps(v, default=str, sort_keys=True)
    return html.escape(text if len(text) <= 300 else text[:300] + " ...")


def _as_dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def metadata_panel(data: StudyData) -> Panel | None:
    """Run metadata from the engine's study attrs: description, mode, models, sampler, budget."""
    attrs = data.user_attrs
    spec = _as_dict(attrs.get("dse.spec"))
    study = _as_dict(spec.get("study"))
    # What the latest run actually ran with (CLI overrides included), else the study file's.
    ran = _as_dict(attrs.get("dse.last_run"))
    executor = ({k: ran[k] for k in ("executor", "workers", "ray_address") if ran.get(k)}
                if ran else spec.get("executor"))
    budget = ({k: ran[k] for k in ("n_trials", "timeout_s") if ran.get(k)}
              if ran else spec.get("budget"))
    rows: list[tuple[str, Any]] = []
    for key, value in (
        ("description", study.get("description")),
        ("mode", attrs.get("dse.mode") or study.get("mode")),
        ("seed", ran.get("seed", study.get("seed"))),
        ("sampler", ran.get("sampler") or spec.get("sampler")),
        ("budget (last run)" if ran else "budget", budget),
        ("executor (last run)" if ran else "executor", executor),
        ("fixed parameters", attrs.get("dse.fixed")),
        ("hypervolume reference", attrs.get("dse.reference")),
        ("study file", {k: spec[k] for k in ("file", "digest") if k in spec}),
    ):
        if value not in (None, "", {}, []):
            rows.append((key, value))
    for m in data.models:
        name = f"model {m.get('namespace', '')}"
        rows.append((name, {k: m.get(k) for k in ("model", "version", "options") if k in m}))
    if not rows:
        return None
    body = "".join(f"<tr><td>{html.escape(k)}</td><td>{_cell(v)}</td></tr>" for k, v in rows)
    table = f'<table class="metadata"><tbody>{body}</tbody></table>'
    return Panel("metadata", "Run", html=table)


def study_panels(data: StudyData, config_dir: str = "configs") -> list[Panel]:
    """Every panel for a study page, in page order; views that don't apply are left out.

    Args:
        data: the study.
        config_dir: URL prefix (relative to the page) of the exported trial configurations.
    """
    m = data.n_objectives
    panels: list[Panel | None] = []
    has_results = not data.complete.empty
    if has_results and m >= 2:
        if m == 2:
            panels.append(
                _guard(
                    "pareto",
                    "Pareto front",
                    lambda: Panel("pareto", "Pareto front", pareto_2d(data)),
                )
            )
        if m == 3:
            panels.append(
                _guard(
                    "pareto3d",
                    "Pareto front (3-D)",
                    lambda: Panel("pareto3d", "Pareto front (3-D)", pareto_3d(data)),
                )
            )
        if m >= 3:
            panels.append(
                _guard(
                    "splom",
                    "Pareto front (scatter matrix)",
                    lambda: Panel("splom", "Pareto front (scatter matrix)", pareto_matrix(data)),
                )
            )
        panels.append(_guard("table", "Pareto set", lambda: _table_panel(data, config_dir)))
    if has_results:
        panels.append(
            _guard(
                "parcoords",
                "Parallel coordinates",
                lambda: _figure_panel(
                    "parcoords", "Parallel coordinates", lambda: parallel_coordinates(data)
                ),
            )
        )
        panels.extend(_progress_panels(data))
        panels.append(
            _guard("importance", "Parameter importance", lambda: _importance_panel(data))
        )
        views: list[Callable[[StudyData], Panel | None]] = [
            cluster_view,
            engine_view,
            serving_view,
            training_view,
        ]
        for view in views:
            panels.append(_guard(view.__name__, view.__name__, functools.partial(view, data)))
    panels.append(_guard("failures", "Failed trials", lambda: fail_reasons(data)))
    panels.append(_guard("metadata", "Run", lambda: metadata_panel(data)))
    return [p for p in panels if p is not None]
