from __future__ import annotations

import json
import re
from pathlib import Path
from types import ModuleType

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

import costmodels
from dashboards import StudyNotFoundError, build_report


def figures_of(page: Path) -> dict[str, dict]:
    text = page.read_text()
    blob = re.search(r'<script type="application/json" id="figures">(.*?)</script>', text, re.S)
    assert blob is not None
    return json.loads(blob.group(1))


def test_report_is_offline_and_complete(studies: ModuleType, tmp_path: Path) -> None:
    storage = studies.journal(tmp_path / "j.log")
    studies.make_demo_study(storage)
    studies.make_study(storage, "other", ["minimize", "minimize"])
    index = build_report(storage, ["demo-zdt1"], tmp_path / "out")
    out = index.parent
    assert index == out / "index.html"
    assert sorted(p.name for p in out.glob("*.js")) == ["plotly.min.js", "report.js"]
    assert (out / "plotly.min.js").stat().st_size > 1_000_000
    for page in out.glob("*.html"):
        text = page.read_text()
        assert "cdn" not in text.lower() and "https://" not in text
        assert 'src="plotly.min.js"' in text
        assert "plotly.js v" not in text  # the bundle is not inlined
    index_text = index.read_text()
    assert "demo-zdt1" in index_text and "other" in index_text  # every study is listed
    assert 'href="study-demo-zdt1.html"' in index_text
    figs = figures_of(out / "study-demo-zdt1.html")
    assert {"pareto", "parcoords", "hypervolume", "best", "violations", "importance"} <= set(figs)
    pareto = figs["pareto"]
    names = [t.get("name", "") for t in pareto["data"]]
    assert any(n.startswith("Pareto front") for n in names)
    assert any(n.startswith("infeasible") for n in names)
    assert pareto["layout"]["xaxis"]["title"]["text"] == "demo.f1"
    hv = figs["hypervolume"]["layout"]["annotations"][-1]["text"]
    assert hv.startswith("reference point: demo.f1 = ")


def test_pareto_table_links_to_exported_configs(studies: ModuleType, tmp_path: Path) -> None:
    storage = studies.journal(tmp_path / "j.log")
    studies.make_demo_study(storage)
    out = build_report(storage, None, tmp_path / "out").parent
    page = (out / "study-demo-zdt1.html").read_text()
    links = re.findall(r'href="(configs/demo-zdt1/trial-(\d+)\.json)"', page)
    # The report's front is Optuna's (feasible, complete, non-dominated).
    optuna_front = optuna.load_study(study_name="demo-zdt1", storage=storage).best_trials
    assert {int(n) for _, n in links} == {t.number for t in optuna_front}
    assert len(links) > 0
    links = [href for href, _ in links]
    cfg = json.loads((out / links[0]).read_text())
    assert cfg["pareto"] and cfg["feasible"]
    # The engine's export record, with the demo model's native config (its inputs only).
    assert cfg["config"]["demo"]["params"] == {
        k.removeprefix("demo."): v for k, v in cfg["params"].items() if k != "demo.mode"
    }


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("empty", "has no trials yet"),
        ("failed", "No trial has completed"),
        ("single", "single-objective study"),
    ],
)
def test_degenerate_studies_say_so(
    studies: ModuleType, tmp_path: Path, setup: str, message: str
) -> None:
    storage = studies.journal(tmp_path / "j.log")
    if setup == "empty":
        studies.make_study(storage, "s", ["minimize", "minimize"])
    elif setup == "failed":
        study = studies.make_study(storage, "s", ["minimize", "minimize"])
        study.add_trials(
            [
                studies.simple_trial(
                    k, None, state=TrialState.FAIL, user_attrs={"dse.fail_reason": "x"}
                )
                for k in range(3)
            ]
        )
    else:
        study = studies.make_study(storage, "s", ["minimize"])
        study.add_trials([studies.simple_trial(k, [float(k)], {"a": k / 20}) for k in range(20)])
    out = build_report(storage, None, tmp_path / "out").parent
    text = (out / "study-s.html").read_text()
    assert message in text
    if setup == "failed":
        assert "Failed trials (3)" in text
    if setup == "single":
        assert "pareto" not in figures_of(out / "study-s.html")
        assert "best" in figures_of(out / "study-s.html")


def test_unknown_study_is_a_one_line_error(studies: ModuleType, tmp_path: Path) -> None:
    storage = studies.journal(tmp_path / "j.log")
    studies.make_demo_study(storage, n=3)
    expected = r"^no study named 'x' in the storage; studies: 'demo-zdt1'$"
    with pytest.raises(StudyNotFoundError, match=expected):
        build_report(storage, ["x"], tmp_path / "out")


@pytest.mark.parametrize(("m", "expected"), [(3, {"pareto3d", "splom"}), (4, {"splom"})])
def test_three_and_more_objectives(
    studies: ModuleType, tmp_path: Path, m: int, expected: set[str]
) -> None:
    storage = studies.journal(tmp_path / "j.log")
    study = studies.make_study(storage, "many", ["minimize"] * (m - 1) + ["maximize"])
    vals = studies.random_values(40, m)
    study.add_trials(
        [studies.simple_trial(k, list(v), {"a": v[0], "b": v[1]}) for k, v in enumerate(vals)]
    )
    out = build_report(storage, None, tmp_path / "out").parent
    figs = figures_of(out / "study-many.html")
    assert expected <= set(figs)
    assert "pareto" not in figs
    assert "hypervolume" in figs


def test_hypervolume_history_over_budget_says_where_it_stops(
    studies: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dashboards._figures

    monkeypatch.setattr(dashboards._figures, "HISTORY_BUDGET_S", 0.0)
    storage = studies.journal(tmp_path / "j.log")
    study = studies.make_study(storage, "big", ["minimize"] * 4)
    vals = studies.random_values(30, 4)
    study.add_trials([studies.simple_trial(k, list(v), {"a": v[0]}) for k, v in enumerate(vals)])
    out = build_report(storage, None, tmp_path / "out").parent
    text = (out / "study-big.html").read_text()
    assert "Hypervolume (partial 0)" in text
    caption = figures_of(out / "study-big.html")["hypervolume"]["layout"]["annotations"][-1]
    assert "used up its 0 s budget" in caption["text"]


def cluster_study(studies: ModuleType, storage: optuna.storages.BaseStorage) -> None:
    times = ["time_fwd_s", "time_bwd_s", "time_bubble_s", "time_dp_comm_s"]
    models = [
        {"namespace": "cluster", "model": "cluster", "version": "1", "options": {}},
        {"namespace": "gemm", "model": "sparse_gemm", "version": "1", "options": {"wl": 1}},
    ]
    study = studies.make_study(storage, "clu", ["minimize", "minimize"], **{"dse.models": models})
    rng = np.random.default_rng(3)
    trials = []
    for k in range(12):
        v = rng.random(2)
        attrs = {"metrics": {f"cluster.{t}": float(rng.random()) for t in times}}
        trials.append(
            studies.simple_trial(k, list(v), {"cluster.tp": v[0], "gemm.n": v[1]}, attrs)
        )
    study.add_trials(trials)


def test_domain_views_appear_and_survive_missing_models(
    studies: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = studies.journal(tmp_path / "j.log")
    cluster_study(studies, storage)

    def missing(name: str, **options: object) -> object:
        raise costmodels.ModelError(f"unknown model {name!r}")

    monkeypatch.setattr(costmodels, "get_model", missing)
    out = build_report(storage, None, tmp_path / "out").parent
    text = (out / "study-clu.html").read_text()
    figs = figures_of(out / "study-clu.html")
    bars = figs["cluster"]["data"]
    assert [b["name"] for b in bars] == ["forward", "backward", "pipeline bubble", "DP comm"]
    assert figs["cluster"]["layout"]["barmode"] == "stack"
    assert "engine" not in figs
    assert "is not importable here" in text  # the engine view says why it is empty
    assert '<section id="sec-metadata"><h2>Run</h2>' in text
    assert "sparse_gemm" in text and "{&quot;wl&quot;: 1}" in text  # models and options


def test_engine_view_uses_model_breakdown(
    studies: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = studies.journal(tmp_path / "j.log")
    cluster_study(studies, storage)
    seen: list[dict] = []

    class FakeEngine:
        def breakdown(self, params: dict) -> list[dict]:
            seen.append(params)
            return [
                {"layer": "conv1", "bound": "compute", "utilization": 0.9},
                {"layer": "fc", "bound": "memory", "utilization": 0.3},
            ]

        def native_config(self, params: dict) -> dict:
            return {"engine": params}

    monkeypatch.setattr(costmodels, "get_model", lambda name, **options: FakeEngine())
    out = build_report(storage, None, tmp_path / "out").parent
    heat = figures_of(out / "study-clu.html")["engine"]["data"][0]
    assert heat["x"] == ["conv1", "fc"]
    assert heat["text"][0] == ["compute", "memory"]
    # Every input of the gemm model by its local name (dse.model_inputs fills the defaults).
    assert seen and set(seen[0]) == {p.name for p in costmodels.get_model_class(
        "sparse_gemm").inputs}


def test_serving_and_training_views(studies: ModuleType, tmp_path: Path) -> None:
    storage = studies.journal(tmp_path / "j.log")
    models = [
        {"namespace": "sushi", "model": "sushi", "version": "1", "options": {}},
        {
            "namespace": "nm",
            "model": "nm_training",
            "version": "1",
            "options": {"recipe": "sr-ste"},
        },
    ]
    study = studies.make_study(storage, "srv", ["minimize", "maximize"], **{"dse.models": models})
    study.set_user_attr(
        "dse.objectives",
        [
            {"metric": "sushi.latency_ms", "direction": "minimize", "unit": "ms"},
            {"metric": "sushi.top1_acc", "direction": "maximize", "unit": ""},
        ],
    )
    rng = np.random.default_rng(4)
    trials = []
    for k in range(10):
        b = float(rng.random())
        attrs = {
            "metrics": {"sushi.offchip_energy_mj": 3.0 - b},
            "dse.curve": [[s, 0.1 * s * b] for s in range(5)],
        }
        trials.append(
            studies.simple_trial(
                k, [1.0 + b, 0.7 + 0.1 * b], {"sushi.pb_mb": b, "sushi.act_buf_mb": 1 - b}, attrs
            )
        )
    study.add_trials(trials)
    out = build_report(storage, None, tmp_path / "out").parent
    figs = figures_of(out / "study-srv.html")
    titles = [a["text"] for a in figs["serving"]["layout"]["annotations"]]
    assert titles == ["sushi.latency_ms", "sushi.top1_acc", "sushi.offchip_energy_mj"]
    # The persistent buffer is preferred over other buffers as the x axis.
    assert figs["serving"]["layout"]["xaxis"]["title"]["text"] == "sushi.pb_mb"
    curves = figs["training"]["data"]
    assert len(curves) == 10 and curves[0]["name"].startswith("sr-ste (#0)")


def test_odd_studies_build_every_view(studies: ModuleType, tmp_path: Path) -> None:
    """Running and pruned trials, conditional and mixed-type params, all-infeasible fronts."""
    storage = studies.journal(tmp_path / "j.log")
    study = studies.make_study(storage, "odd", ["minimize", "maximize"])
    cat = CategoricalDistribution([None, 1, "a"])
    trials = []
    for k in range(30):
        params = {"x": k / 30, "choice": [None, 1, "a"][k % 3]}
        dists = {"x": FloatDistribution(0.0, 1.0), "choice": cat}
        if k % 2:
            params["only_odd"] = k / 60
            dists["only_odd"] = FloatDistribution(0.0, 1.0)
        state = TrialState.PRUNED if k % 7 == 0 else TrialState.COMPLETE
        t = create_trial(
            state=state,
            values=None if state == TrialState.PRUNED else [k / 30, (k % 5) / 5],
            params=params,
            distributions=dists,
            intermediate_values={0: 0.1, 1: 0.2},
        )
        trials.append(studies.at(t, k))
    study.add_trials(trials)
    study.ask()  # a trial still running
    infeasible = studies.make_study(storage, "infeasible", ["minimize", "minimize"])
    infeasible.add_trials(
        [studies.simple_trial(k, [k, -k], {"a": 0.5}, constraints={"c": 1.0}) for k in range(12)]
    )
    out = build_report(storage, None, tmp_path / "out").parent
    for name in ("odd", "infeasible"):
        text = (out / f"study-{name}.html").read_text()
        assert "could not build this view" not in text, name
    assert "pareto" in figures_of(out / "study-odd.html")
    assert "hypervolume" not in figures_of(out / "study-infeasible.html")
    assert "0 are on the Pareto front" in (out / "study-infeasible.html").read_text()


def test_hostile_names_are_escaped_and_file_safe(studies: ModuleType, tmp_path: Path) -> None:
    storage = studies.journal(tmp_path / "j.log")
    name = "../x/<b>bold</b> & 'q'"
    study = studies.make_study(storage, name, ["minimize", "minimize"])
    studies.set_metric_names(study, ["<i>f1</i>", "f2"])
    study.add_trials(
        [studies.simple_trial(k, [k, 10 - k], {"<script>p</script>": k / 10}) for k in range(10)]
    )
    out = build_report(storage, None, tmp_path / "out").parent
    pages = sorted(p.name for p in out.glob("study-*.html"))
    assert len(pages) == 1 and "/" not in pages[0] and "<" not in pages[0]
    assert (out / pages[0]).resolve().parent == out.resolve()
    for page in (out / pages[0], out / "index.html"):
        text = page.read_text()
        assert "<b>bold</b>" not in text and "<script>p" not in text and "<i>f1</i>" not in text
    configs = list((out / "configs").iterdir())
    assert len(configs) == 1 and configs[0].resolve().parent == (out / "configs").resolve()
