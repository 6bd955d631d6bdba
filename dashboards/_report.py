"""The static HTML report: an index of every study in the storage and one page per study.

Layout of the output directory (works offline; plotly.js is copied once, never fetched)::

    index.html                 every study in the storage, with counts and hypervolume
    study-<name>.html          one page per reported study
    configs/<name>/trial-N.json  the Pareto configurations, linked from the Pareto table
    plotly.min.js report.js report.css

The page builders here are shared with the live server (:mod:`dashboards._server`), which serves
the same pages with a polling script instead of writing them to disk.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
import shutil
import zlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import optuna
import plotly
import plotly.io as pio
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from dashboards._data import StudyData, check_study_names, resolve_storage, study_data
from dashboards._data import study_names as list_study_names
from dashboards._figures import (
    Panel,
    config_filename,
    study_panels,
    study_reference,
    study_summary,
    trials_payload,
)
from dse import hypervolume


__all__ = [
    "StudyPage",
    "build_report",
    "export_records",
    "page_html",
    "plotly_js_path",
    "slug",
    "static_file",
    "study_page",
    "study_page_html",
]

STATIC_FILES = ("report.js", "report.css")

_log = logging.getLogger(__name__)


def plotly_js_path() -> Path:
    """The plotly.min.js bundled with the installed plotly package."""
    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise FileNotFoundError(f"plotly.min.js not found in the plotly package ({path})")
    return path


def static_file(name: str) -> bytes:
    """One of this package's static files (``report.js``, ``report.css``)."""
    if name not in STATIC_FILES:
        raise FileNotFoundError(name)
    return resources.files("dashboards").joinpath("static").joinpath(name).read_bytes()


def slug(name: str) -> str:
    """A file-name-safe, collision-free form of a study name."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "study"
    if safe != name:
        safe = f"{safe[:80]}-{zlib.crc32(name.encode()):08x}"
    return safe


def _script_json(text: str) -> str:
    # JSON inside <script type="application/json">: "</" could end the element and "<!--" could
    # switch the parser into escaped script data; "<" only occurs inside JSON strings, where
    # the escape \u003c means the same.
    return text.replace("<", "\\u003c")


@dataclass
class StudyPage:
    """The parts of one study page, shared by the static report and the live server."""

    name: str
    summary: str
    sections: str
    figures: str  # JSON object {panel id: figure}
    trials: str  # JSON object {trial number: configuration}
    n_trials: int


def _section(panel: Panel) -> str:
    out = [f'<section id="sec-{html.escape(panel.id)}"><h2>{html.escape(panel.title)}</h2>']
    if panel.note:
        out.append(f'<p class="note">{html.escape(panel.note)}</p>')
    if panel.figure is not None:
        out.append(f'<div class="plot" id="plot-{html.escape(panel.id)}"></div>')
    if panel.html:
        out.append(f'<div class="table-wrap">{panel.html}</div>')
    out.append("</section>")
    return "".join(out)


def study_page(data: StudyData, config_dir: str) -> StudyPage:
    """Build every panel of a study and serialise it for a page."""
    panels = study_panels(data, config_dir)
    figures = ",".join(
        f"{json.dumps(p.id)}:{pio.to_json(p.figure, validate=False)}"
        for p in panels
        if p.figure is not None
    )
    ref = study_reference(data)
    summary = html.escape(study_summary(data))
    if data.n_objectives >= 2:
        objs = ", ".join(
            f"{lab} ({d[:3]})" for lab, d in zip(data.labels, data.directions, strict=True)
        )
        summary += f"<br>Objectives: {html.escape(objs)}."
    if ref is not None:
        summary += " Hover or click a point to see its full configuration."
    return StudyPage(
        name=data.name,
        summary=summary,
        sections="".join(_section(p) for p in panels)
        or f'<section id="sec-empty"><h2>Nothing to plot yet</h2><p class="note">{summary}</p>'
        "</section>",
        figures="{" + figures + "}",
        trials=json.dumps(trials_payload(data), separators=(",", ":"), allow_nan=False),
        n_trials=len(data.trials),
    )


def page_html(
    title: str,
    summary: str,
    sections: str,
    *,
    assets: str,
    plotly_src: str,
    nav: str = "",
    figures: str = "{}",
    trials: str = "{}",
    n_trials: int | None = None,
    body_attrs: dict[str, str] | None = None,
    details: bool = True,
) -> str:
    """A whole HTML page around prepared sections (no external requests)."""
    attrs = " ".join(
        f'data-{k}="{html.escape(v, quote=True)}"' for k, v in (body_attrs or {}).items()
    )
    count = (
        f'<span class="count">trials: <span id="trial-count">{n_trials}</span></span> '
        if n_trials is not None
        else ""
    )
    aside = '<aside id="details"><p class="note">Hover or click a point.</p></aside>'
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{assets}report.css">
<script src="{plotly_src}"></script>
<script src="{assets}report.js"></script>
</head>
<body {attrs}>
<header><h1>{html.escape(title)}</h1>{nav} {count}<span id="status"></span>
<p class="summary" id="summary">{summary}</p></header>
<main><div id="sections">{sections}</div>{aside if details else ""}</main>
<script type="application/json" id="figures">{_script_json(figures)}</script>
<script type="application/json" id="trials">{_script_json(trials)}</script>
</body></html>
"""


def study_page_html(
    page: StudyPage,
    title: str,
    *,
    assets: str,
    plotly_src: str,
    nav: str,
    body_attrs: dict[str, str],
) -> str:
    """A whole study page (report or live) from its prepared parts."""
    return page_html(
        title,
        page.summary,
        page.sections,
        assets=assets,
        plotly_src=plotly_src,
        nav=nav,
        figures=page.figures,
        trials=page.trials,
        n_trials=page.n_trials,
        body_attrs=body_attrs,
    )


# -- exported configurations ------------------------------------------------------------------


def export_records(data: StudyData) -> dict[int, dict[str, Any]]:
    """The Pareto trials' exported configurations, by trial number.

    These are the engine's export records (``dse.study_records``: flat params including fixed
    and inner ones, each model's native config, metrics, constraints), so the report links to
    exactly what ``dse export --pareto`` writes. Trials on the report's front that the engine's
    export leaves out (and studies outside the engine's reach) get the report's own record.
    """
    front = data.trials.index[data.trials["pareto"]]
    records: dict[int, dict[str, Any]] = {}
    try:
        from dse import study_records

        records = {int(r["trial"]): r for r in study_records(data.study, pareto_only=True)}
    except Exception as err:  # noqa: BLE001 - the report still links the flat configs
        _log.warning("study %s: engine export unavailable (%s)", data.name, err)
    missing = [int(n) for n in front if int(n) not in records]
    for number, config in data.configs(missing).items():
        records[number] = {"study": data.name, **config}
    return {int(n): records[int(n)] for n in front}


def _write_configs(data: StudyData, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for number, record in export_records(data).items():
        (folder / config_filename(number)).write_text(
            json.dumps(record, indent=2, default=str) + "\n"
        )


# -- index ------------------------------------------------------------------------------------


def study_rows(storage: BaseStorage) -> list[dict[str, Any]]:
    """Cheap per-study facts for the index: name, objectives, counts by state."""
    rows = []
    for s in storage.get_all_studies():
        counts = {
            st.name.lower(): storage.get_n_trials(s._study_id, state=st)
            for st in (TrialState.COMPLETE, TrialState.RUNNING, TrialState.FAIL, TrialState.PRUNED)
        }
        declared = s.user_attrs.get("dse.objectives")
        if isinstance(declared, list) and len(declared) == len(s.directions):
            names = [str(d.get("metric", "?")) for d in declared if isinstance(d, dict)]
        else:
            names = list(s.system_attrs.get("study:metric_names") or []) or [
                f"values_{i}" for i in range(len(s.directions))
            ]
        rows.append(
            {
                "name": s.study_name,
                "objectives": [
                    f"{n} ({d.name.lower()[:3]})"
                    for n, d in zip(names, s.directions, strict=False)
                ],
                "n_trials": storage.get_n_trials(s._study_id),
                **counts,
            }
        )
    return rows


MAX_FRONT_4D = 400  # front points up to which the index computes a 4+-objective hypervolume


def final_hypervolume(data: StudyData) -> float | None:
    """Hypervolume of the study's feasible front in normalised units, or None.

    Reuses the hypervolume view's result; without it, computes it for up to 3 objectives, and
    for 4+ only on a front of at most ``MAX_FRONT_4D`` points (exact hypervolume in 4+
    dimensions can take long on a big front).
    """
    if "hypervolume" in data.cache:
        final, complete = data.cache["hypervolume"]
        return float(final) if complete else None
    ref = study_reference(data)
    front = data.trials["pareto"].to_numpy(dtype=bool)
    if ref is None or (data.n_objectives > 3 and front.sum() > MAX_FRONT_4D):
        return None
    return hypervolume(ref.normalize(data.values_min()[front]), ref.point)


def index_sections(
    rows: list[dict[str, Any]], links: dict[str, str], hvs: dict[str, float | None]
) -> str:
    """The index's table of studies."""
    heads = ["study", "objectives", "trials", "complete", "running", "failed", "pruned", "HV"]
    out = ['<section id="sec-studies"><h2>Studies</h2>']
    if not rows:
        out.append('<p class="note">This storage holds no studies yet.</p></section>')
        return "".join(out)
    out.append('<table class="sortable studies"><thead><tr>')
    out += [f'<th data-col="{i}">{h}</th>' for i, h in enumerate(heads)]
    out.append("</tr></thead><tbody>")
    for r in rows:
        name = html.escape(r["name"])
        cell = (
            f'<a href="{html.escape(links[r["name"]])}">{name}</a>' if r["name"] in links else name
        )
        hv = hvs.get(r["name"])
        objectives = html.escape(", ".join(r["objectives"]))
        out.append(
            f'<tr data-study="{name}"><td>{cell}</td><td>{objectives}</td>'
            f'<td class="n-trials">{r["n_trials"]}</td><td>{r["complete"]}</td>'
            f"<td>{r['running']}</td><td>{r['fail']}</td><td>{r['pruned']}</td>"
            f"<td>{'' if hv is None else f'{hv:.4g}'}</td></tr>"
        )
    out.append("</tbody></table></section>")
    return "".join(out)


# -- the report -------------------------------------------------------------------------------


def build_report(
    storage: str | os.PathLike[str] | BaseStorage,
    study_names: list[str] | None = None,
    out_dir: str | os.PathLike[str] = "dse-report",
) -> Path:
    """Write the offline HTML report and return the path of its index page.

    Args:
        storage: an Optuna storage, a storage URL, or a journal file path.
        study_names: the studies that get a page (default: every study in the storage). The
            index always lists every study in the storage.
        out_dir: output directory (created; existing report files are overwritten).

    Returns:
        ``out_dir/index.html``.

    Raises:
        StudyNotFoundError: a requested study is not in the storage (the message lists those
            that are).
    """
    store = resolve_storage(storage)
    wanted = check_study_names(store, study_names)
    existing = list_study_names(store)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(plotly_js_path(), out / "plotly.min.js")
    for name in STATIC_FILES:
        (out / name).write_bytes(static_file(name))

    links: dict[str, str] = {}
    hvs: dict[str, float | None] = {}
    for name in wanted:
        data = study_data(optuna.load_study(study_name=name, storage=store))
        s = slug(name)
        config_dir = f"configs/{s}"
        page = study_page(data, config_dir)
        _write_configs(data, out / config_dir)
        text = study_page_html(
            page,
            f"Study {name}",
            assets="",
            plotly_src="plotly.min.js",
            nav='<a href="index.html">all studies</a>',
            body_attrs={"configs": config_dir},
        )
        (out / f"study-{s}.html").write_text(text, encoding="utf-8")
        links[name] = f"study-{s}.html"
        hvs[name] = final_hypervolume(data)
    index = out / "index.html"
    index.write_text(
        page_html(
            "dse studies",
            f"{len(existing)} studies in the storage; {len(links)} reported.",
            index_sections(study_rows(store), links, hvs),
            assets="",
            plotly_src="plotly.min.js",
            details=False,
        ),
        encoding="utf-8",
    )
    return index
