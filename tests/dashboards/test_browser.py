"""The report and the live dashboard in a real headless Chromium (Debian chromium + driver).

Screenshots of every page go to ``test-output/dashboards/`` for review.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import optuna
import pytest

from dashboards import build_report
from dashboards._server import make_server


pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "dashboards"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-unsafe-swiftshader",  # software WebGL for the 3-D and parcoords plots
    "--window-size=1400,3000",
]
RENDER_TIMEOUT_S = 60

# Every plot div has been drawn: plotly's class plus an SVG or WebGL layer.
ALL_RENDERED_JS = """
const plots = Array.from(document.querySelectorAll('div.plot'));
return plots.map(d => [d.id, d.classList.contains('js-plotly-plot'),
                       !!d.querySelector('svg.main-svg, canvas')]);
"""


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        pytest.skip(f"needs Debian's chromium and chromium-driver ({CHROMIUM}, {CHROMEDRIVER})")
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="dse-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    drv.set_page_load_timeout(RENDER_TIMEOUT_S)
    try:
        yield drv
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_rendered(drv: Any) -> list[list[Any]]:
    from selenium.webdriver.support.ui import WebDriverWait

    def done(d: Any) -> list[list[Any]] | bool:
        plots = d.execute_script(ALL_RENDERED_JS)
        return (plots or [["none", True, True]]) if all(p[1] and p[2] for p in plots) else False

    plots = WebDriverWait(drv, RENDER_TIMEOUT_S, poll_frequency=0.2).until(done)
    return [p for p in plots if p[0] != "none"]


def console_errors(drv: Any) -> list[str]:
    return [e["message"] for e in drv.get_log("browser") if e["level"] == "SEVERE"]


def screenshot(drv: Any, name: str) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    drv.save_screenshot(str(OUTPUT / f"{name}.png"))


def three_objective_study(studies: ModuleType, storage: Any) -> None:
    study = studies.make_study(storage, "three", ["minimize", "minimize", "maximize"])
    studies.set_metric_names(study, ["latency_ms", "energy_mj", "top1_acc"])
    vals = studies.random_values(120, 3, seed=5)
    study.add_trials(
        [
            studies.simple_trial(k, list(v), {"a": v[0], "b": v[1]}, {"m.util": v[2]})
            for k, v in enumerate(vals)
        ]
    )


def test_report_pages_render_without_errors(
    driver: Any, studies: ModuleType, tmp_path: Path
) -> None:
    storage = studies.journal(tmp_path / "j.log")
    studies.make_demo_study(storage)
    three_objective_study(studies, storage)
    studies.make_study(storage, "empty", ["minimize", "minimize"])
    out = build_report(storage, None, tmp_path / "report").parent
    pages = ["index.html", "study-demo-zdt1.html", "study-three.html", "study-empty.html"]
    for page in pages:
        driver.get((out / page).as_uri())
        plots = wait_rendered(driver)
        screenshot(driver, f"report-{page.removesuffix('.html')}")
        assert console_errors(driver) == [], page
        if page.startswith("study-") and page != "study-empty.html":
            assert len(plots) >= 5, plots
    # The 3-D front is a WebGL scene and the parcoords filter button exists.
    driver.get((out / "study-three.html").as_uri())
    wait_rendered(driver)
    assert driver.execute_script("return !!document.querySelector('#plot-pareto3d canvas')")
    button = driver.execute_script(
        "return Array.from(document.querySelectorAll('#plot-parcoords .updatemenu-button'))"
        ".map(b => b.textContent)"
    )
    assert "Pareto front only" in button


# The Pareto point farthest from every other point (so the hover is unambiguous): its SVG
# element and its trial number.
PARETO_POINT_JS = """
const div = document.getElementById(arguments[0]);
const k = div._fullData.findIndex(t => (t.name || '').startsWith('Pareto front'));
const centre = e => {
  const r = e.getBoundingClientRect();
  return [r.x + r.width / 2, r.y + r.height / 2];
};
const all = Array.from(div.querySelectorAll('.scatterlayer path.point')).map(centre);
const trace = div.querySelectorAll('.scatterlayer .trace')[k];
const mine = Array.from(trace.querySelectorAll('path.point'));
let best = 0, bestGap = -1;
mine.forEach((e, i) => {
  const [x, y] = centre(e);
  const gap = Math.min(...all.map(([u, v]) => Math.hypot(u - x, v - y)).filter(d => d > 0.5));
  if (gap > bestGap) { bestGap = gap; best = i; }
});
return [mine[best], div._fullData[k].customdata[best]];
"""


def hover_pareto_point(drv: Any, plot_id: str) -> int:
    """Move the mouse onto a Pareto point (a real hover); return that point's trial number."""
    from selenium.webdriver.common.action_chains import ActionChains

    element, number = drv.execute_script(PARETO_POINT_JS, plot_id)
    drv.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    ActionChains(drv).move_to_element(element).perform()
    return int(number)


def test_pareto_point_hover_and_click_show_its_config(
    driver: Any, studies: ModuleType, tmp_path: Path
) -> None:
    storage = studies.journal(tmp_path / "j.log")
    studies.make_demo_study(storage)
    out = build_report(storage, None, tmp_path / "report").parent
    driver.get((out / "study-demo-zdt1.html").as_uri())
    wait_rendered(driver)
    number = hover_pareto_point(driver, "plot-pareto")
    details = driver.find_element("id", "details").text
    assert f"Trial #{number}" in details and "Pareto" in details
    for key in ("demo.x", "demo.y", "demo.level", "demo.f1", "demo.g", "demo.budget"):
        assert key in details
    tooltip = driver.execute_script(
        "return Array.from(document.querySelectorAll('#plot-pareto .hovertext'))"
        ".map(e => e.textContent).join(' ')"
    )
    assert f"trial {number}" in tooltip and "demo.x =" in tooltip
    screenshot(driver, "report-hover")
    # Clicking a row of the Pareto table shows that trial too.
    row = driver.find_elements("css selector", ".pareto-table tbody tr")[-1]
    row.find_elements("tag name", "td")[1].click()
    assert f"Trial #{row.get_attribute('data-trial')}" in driver.find_element("id", "details").text
    assert console_errors(driver) == []


@pytest.fixture
def live_server(demo_storage: optuna.storages.BaseStorage, studies: ModuleType) -> Iterator[Any]:
    with studies.running(make_server(demo_storage, port=0, refresh_s=0.3)) as srv:
        yield srv


def test_live_dashboard_picks_up_new_trials(
    driver: Any, live_server: Any, demo_storage: Any, studies: ModuleType
) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(live_server.url)
    wait_rendered(driver)
    screenshot(driver, "live-index")
    assert console_errors(driver) == []
    driver.get(live_server.url + "study/demo-zdt1")
    wait_rendered(driver)
    count = driver.find_element("id", "trial-count")
    assert count.text == "61"
    study = optuna.load_study(study_name="demo-zdt1", storage=demo_storage)
    # Another worker finishes five trials while the page is open.
    study.add_trials(studies.demo_trials(5, seed=11, start=200))
    WebDriverWait(driver, 30, poll_frequency=0.2).until(
        lambda d: d.find_element("id", "trial-count").text == "66"
    )
    plots = wait_rendered(driver)
    assert len(plots) >= 5
    points = driver.execute_script(
        "return document.getElementById('plot-pareto')._fullData"
        ".reduce((n, t) => n + (t.mode === 'markers' ? t.x.length : 0), 0)"
    )
    assert points == 65  # every completed trial is drawn after the refresh
    number = hover_pareto_point(driver, "plot-pareto")
    assert f"Trial #{number}" in driver.find_element("id", "details").text
    screenshot(driver, "live-study")
    assert console_errors(driver) == []


# Opacity of each domain view's traces (heatmaps: the number of framing shapes).
DOMAIN_OPACITY_JS = """
const out = {};
for (const id of ['engine', 'serving', 'cluster', 'training']) {
  const div = document.getElementById('plot-' + id);
  if (!div || !div.data) { out[id] = null; continue; }
  out[id] = div.data.map(t => t.type === 'heatmap' ? (div.layout.shapes || []).length
                                : (t.marker && t.marker.opacity !== undefined
                                   ? t.marker.opacity : t.opacity));
}
return out;
"""


@pytest.mark.slow
def test_selecting_a_codesign_design_highlights_it_in_every_layer_view(
    driver: Any, tmp_path: Path
) -> None:
    pytest.importorskip("torch")
    from dse import shipped_studies
    from dse.cli import main

    text = Path(shipped_studies()["codesign"]).read_text()
    text = text.replace('fidelity = "default"',
                        f'fidelity = "tiny", cache_dir = "{tmp_path / "cache"}"')
    text = text.replace("[budget]\nn_trials = ", "[budget]\nn_trials = 2\n# was ")
    text = text.replace('report = "dse-report/codesign"', f'report = "{tmp_path / "report"}"')
    text = text.replace('export = "dse-export/codesign.json"', f'export = "{tmp_path / "f.json"}"')
    (tmp_path / "codesign.toml").write_text(text)
    assert main(["run", str(tmp_path / "codesign.toml"), "--storage",
                 str(tmp_path / "s.journal"), "--quiet"]) == 0
    driver.get((tmp_path / "report" / "study-codesign.html").as_uri())
    wait_rendered(driver)
    assert {"plot-splom", "plot-parcoords", "plot-engine", "plot-serving", "plot-cluster",
            "plot-training"} <= set(driver.execute_script(
                "return Array.from(document.querySelectorAll('div.plot')).map(d => d.id)"))
    row = driver.find_elements("css selector", ".pareto-table tbody tr")[0]
    row.find_elements("tag name", "td")[1].click()
    views = driver.execute_script(DOMAIN_OPACITY_JS)
    screenshot(driver, "report-codesign-selected")
    assert views["engine"] == [1]  # the selected design's heatmap row is framed
    for name in ("serving", "cluster"):  # per point: the selected design bright, others dim
        per_point = [v for v in views[name] if isinstance(v, list)]
        assert per_point and all(set(v) <= {1, 0.15} for v in per_point), (name, views[name])
        assert any(1 in v for v in per_point) and any(0.15 in v for v in per_point), name
    # Training: one line per proposal; the selected design's is bright when it has one.
    curves = driver.execute_script(
        "return document.getElementById('plot-training')._fullData.map(t => t.customdata[0])")
    assert set(views["training"]) <= {1, 0.15}
    assert (1 in views["training"]) == (int(row.get_attribute("data-trial")) in curves)
    assert console_errors(driver) == []


# -- every shipped study, measured -----------------------------------------------------------

# Text boxes of one plot, as the four screen corners of each SVG text element (rotation
# included: getBBox in the element's own coordinates mapped by getScreenCTM), grouped as
# tick labels per axis and axis titles. 3-D scenes draw their labels into WebGL: not measured.
TEXT_BOXES_JS = """
const div = document.getElementById(arguments[0]);
const quad = t => {
  const b = t.getBBox(), m = t.getScreenCTM();
  if (!b.width || !b.height || !m) { return null; }
  return [[b.x, b.y], [b.x + b.width, b.y], [b.x + b.width, b.y + b.height],
          [b.x, b.y + b.height]].map(([x, y]) => [m.a * x + m.c * y + m.e,
                                                  m.b * x + m.d * y + m.f]);
};
const visible = t => t.textContent.trim() && getComputedStyle(t).opacity !== '0' &&
  getComputedStyle(t).display !== 'none';
const boxes = sel => Array.from(div.querySelectorAll(sel)).filter(visible)
  .map(t => [t.textContent, quad(t)]).filter(b => b[1]);
const axes = [];
div.querySelectorAll('.xaxislayer-above, .yaxislayer-above').forEach(g => {
  axes.push(Array.from(g.querySelectorAll('text')).filter(visible)
    .map(t => [t.textContent, quad(t)]).filter(b => b[1]));
});
div.querySelectorAll('.parcoords .y-axis').forEach(g => {
  axes.push(Array.from(g.querySelectorAll('.tick text')).filter(visible)
    .map(t => [t.textContent, quad(t)]).filter(b => b[1]));
});
const titles = boxes('.infolayer g[class^="g-x"] text, .infolayer g[class^="g-y"] text, ' +
                     '.parcoords text.axis-title');
return {axes: axes, titles: titles};
"""


def _overlap(a: list[list[float]], b: list[list[float]], slack: float = 0.5) -> bool:
    """Whether two convex quads (screen corners) overlap by more than ``slack`` px (SAT)."""
    for quad in (a, b):
        for k in range(4):
            (x0, y0), (x1, y1) = quad[k], quad[(k + 1) % 4]
            nx, ny = y0 - y1, x1 - x0  # an edge normal
            norm = (nx * nx + ny * ny) ** 0.5 or 1.0
            pa = [(x * nx + y * ny) / norm for x, y in a]
            pb = [(x * nx + y * ny) / norm for x, y in b]
            if max(pa) - slack <= min(pb) or max(pb) - slack <= min(pa):
                return False  # a separating axis
    return True


def label_collisions(drv: Any, plot_id: str) -> list[str]:
    """Overlapping labels in one plot: ticks of one axis, titles with ticks or each other."""
    found = drv.execute_script(TEXT_BOXES_JS, plot_id)
    problems = []
    for ticks in found["axes"]:
        for i, (ta, qa) in enumerate(ticks):
            for tb, qb in ticks[i + 1 :]:
                if _overlap(qa, qb):
                    problems.append(f"{plot_id}: tick labels {ta!r} and {tb!r}")
    every_tick = [t for ticks in found["axes"] for t in ticks]
    for i, (title, qt) in enumerate(found["titles"]):
        problems += [f"{plot_id}: axis title {title!r} and tick label {tick!r}"
                     for tick, qk in every_tick if _overlap(qt, qk)]
        problems += [f"{plot_id}: axis titles {title!r} and {other!r}"
                     for other, qo in found["titles"][i + 1 :] if _overlap(qt, qo)]
    return problems


def _run_every_shipped_study(root: Path) -> str:
    """Every shipped study into one journal: sweeps whole, others with 3 trials of the tiny
    proxy (one seed, its own cache), no [outputs]. Returns the journal's path."""
    from dataclasses import replace

    from dse import load_spec, run_study, shipped_studies
    from dse._spec import OutputsSpec

    journal = str(root / "shipped.journal")
    tiny = {"fidelity": "tiny", "n_seeds": 1, "cache_dir": str(root / "cache")}
    for path in shipped_studies().values():
        spec = load_spec(path)
        models = tuple(replace(m, options={**dict(m.options or {}), **tiny})
                       if m.model == "nm_training" else m for m in spec.models)
        spec = replace(spec, models=models, outputs=OutputsSpec()).with_overrides(
            storage=journal, n_trials=None if spec.mode == "sweep" else 3)
        run_study(spec, quiet=True)
    return journal


@pytest.fixture(scope="module")
def shipped_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    root = tmp_path_factory.mktemp("shipped")
    return build_report(_run_every_shipped_study(root), None, root / "report").parent


def test_every_shipped_study_page_renders_readably(
    driver: Any, shipped_report: Path, tmp_path: Path
) -> None:
    from dse import shipped_studies

    pages = ["index.html", *(f"study-{name}.html" for name in sorted(shipped_studies()))]
    problems: list[str] = []
    for page in pages:
        driver.get((shipped_report / page).as_uri())
        plots = wait_rendered(driver)
        driver.save_screenshot(str(tmp_path / page.replace(".html", ".png")))
        problems += [f"{page}: console: {m}" for m in console_errors(driver)]
        if page == "index.html":
            cells = driver.execute_script(
                "return Array.from(document.querySelectorAll('.studies tbody tr'))"
                ".map(r => r.lastElementChild.textContent)")
            assert len(cells) == len(pages) - 1 and all(cells), cells  # every HV filled
            continue
        assert plots, page
        for plot_id, _, _ in plots:
            traces = driver.execute_script(
                "return document.getElementById(arguments[0])._fullData.length", plot_id)
            if not traces:
                problems.append(f"{page}: {plot_id} has no trace")
            problems += [f"{page}: {p}" for p in label_collisions(driver, plot_id)]
        ticks = driver.execute_script(
            "return Array.from(document.querySelectorAll('svg text')).map(t => t.textContent)")
        problems += [f"{page}: raw power tick {t!r}" for t in ticks if "×10" in t]
    assert problems == [], "\n".join(problems)
    # A sweep page states its sample and plots its own progress, not trial-order curves.
    driver.get((shipped_report / "study-comet_1t.html").as_uri())
    wait_rendered(driver)
    summary = driver.find_element("id", "summary").text
    assert "of 1,166,400 evaluated designs shown" in summary
    ids = driver.execute_script(
        "return Array.from(document.querySelectorAll('div.plot')).map(d => d.id)")
    assert "plot-sweep" in ids and "plot-hypervolume" not in ids and "plot-best" not in ids
