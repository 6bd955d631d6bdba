"""Export of every Pareto design (ties included) and every feasible design, from a sweep's own
tables; --where/--sort/--top; CSV, JSON, YAML and Parquet; dse.read_sweep."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pytest

import dse
from dse import load_spec, open_storage, run_study
from dse._errors import DseError
from dse._export import export_records, load_records
from dse._select import order_rows, sort_rows, where_mask
from dse.cli import main


@pytest.fixture
def tied_sweep(study_file, tmp_path: Path) -> str:
    """A sweep whose front has ties: y = 0 and y = 1e-300 are different designs with equal
    objectives (g = 1 + 9y rounds to 1), so each x is on the front twice."""
    path = study_file(mode="sweep", extra_space="""
        [space.override]
        "demo.x" = { steps = 11 }
        "demo.y" = [0.0, 1e-300]
        "demo.level" = [0, 1]
    """, body="""
        [sweep]
        sample_rest = 5
    """)
    storage = str(tmp_path / "s.journal")
    summary = run_study(load_spec(path).with_overrides(storage=storage))
    assert summary.sweep["front"] == 22  # 11 x-values, each reached by two designs
    return storage


def _study(storage: str) -> optuna.Study:
    return optuna.load_study(study_name="demo", storage=open_storage(storage))


def test_every_tie_is_recorded_counted_and_exported(tied_sweep: str, tmp_path: Path,
                                                    capsys) -> None:
    study = _study(tied_sweep)
    assert len(dse._study.pareto_trials(study)) == 22
    assert main(["status", "--storage", tied_sweep]) == 0
    assert "Pareto 22" in capsys.readouterr().out
    out = tmp_path / "front.json"
    assert main(["export", "demo", "--pareto", "--storage", tied_sweep, "-o", str(out)]) == 0
    records = json.loads(out.read_text())
    assert len(records) == 22 and all(r["pareto"] and r["trial"] is not None for r in records)
    ys = {r["params"]["demo.y"] for r in records}
    assert ys == {0.0, 1e-300}


def test_the_front_comes_from_the_sweep_even_beyond_the_recorded_trials(
        study_file, tmp_path: Path) -> None:
    path = study_file(mode="sweep", extra_space="""
        [space.override]
        "demo.x" = { steps = 41 }
        "demo.y" = [0.0]
        "demo.level" = 0
    """, body="""
        [sweep]
        sample_rest = 0
        max_front_trials = 10
    """)
    storage = str(tmp_path / "s.journal")
    run_study(load_spec(path).with_overrides(storage=storage))
    study = _study(storage)
    assert len(study.trials) == 10
    records = export_records(study, tmp_path / "f.json", ["json"], pareto_only=True)
    front = json.loads(records[0].read_text())
    assert len(front) == 41 and sum(r["trial"] is not None for r in front) == 10


def test_feasible_where_sort_top(tied_sweep: str, tmp_path: Path) -> None:
    study = _study(tied_sweep)
    [path] = export_records(study, tmp_path / "all.json", ["json"], feasible_only=True)
    every = json.loads(path.read_text())
    assert len(every) == 11 * 2 * 2 and all(r["feasible"] for r in every)
    assert sum(r["pareto"] for r in every) == 22
    [path] = export_records(study, tmp_path / "sel.json", ["json"], feasible_only=True,
                            where="demo.level == 1 and demo.x >= 0.5", sort="demo.f2", top=3)
    sel = json.loads(path.read_text())
    assert len(sel) == 3
    assert all(r["params"]["demo.level"] == 1 and r["params"]["demo.x"] >= 0.5 for r in sel)
    f2 = [r["metrics"]["demo.f2"] for r in sel]
    assert f2 == sorted(f2)  # minimized objective: best first
    [path] = export_records(study, tmp_path / "rev.json", ["json"], feasible_only=True,
                            sort="-demo.f2", top=1)
    assert json.loads(path.read_text())[0]["metrics"]["demo.f2"] == max(
        r["metrics"]["demo.f2"] for r in every)
    # trials (not a sweep table) go through the same selection
    [path] = export_records(study, tmp_path / "t.json", ["json"], where="pareto", top=4)
    assert len(json.loads(path.read_text())) == 4


@pytest.mark.parametrize("fmt", ["csv", "json", "yaml", "parquet"])
def test_each_format_round_trips_through_evaluate(tied_sweep: str, tmp_path: Path,
                                                  fmt: str) -> None:
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    [path] = export_records(_study(tied_sweep), tmp_path / f"front.{fmt}", [fmt],
                            pareto_only=True)
    records = load_records(path)
    assert len(records) == 22
    assert records[0]["config"]["demo"]["params"]["x"] == pytest.approx(0.0)


def test_parquet_without_pyarrow_is_one_line(tied_sweep: str, tmp_path: Path, monkeypatch,
                                             capsys) -> None:
    import builtins

    real_import = builtins.__import__

    def no_pyarrow(name, *args, **kwargs):  # type: ignore[no-untyped-def]
        if name.startswith("pyarrow"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    code = main(["export", "demo", "--format", "json,parquet", "--storage", tied_sweep,
                 "-o", str(tmp_path / "x")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "pip install 'dse[parquet]'" in err and len(err.splitlines()) == 1
    assert not list(tmp_path.glob("x*"))  # nothing written before the refusal


def test_read_sweep_gives_pandas_frames(tied_sweep: str) -> None:
    points = dse.read_sweep("demo", tied_sweep)
    front = dse.read_sweep(_study(tied_sweep), table="front")
    assert len(points) == 44 and len(front) == 22
    assert {"demo.x", "demo.f1", "constraint:demo.budget", "row", "feasible"} <= set(points)
    with pytest.raises(DseError, match="unknown study"):
        dse.read_sweep("nope", tied_sweep)


COLUMNS = {"a.x": np.asarray([1.0, 2.0, np.nan, 4.0]), "a.k": np.asarray(["p", "q", "p", "r"]),
           "feasible": np.asarray([True, False, True, True]), "my-metric": np.arange(4.0)}


@pytest.mark.parametrize(("expr", "expected"), [
    ("a.x > 1.5", [False, True, False, True]),
    ("a.x >= 1 and not feasible", [False, True, False, False]),
    ("a.k in ['p', 'r'] or a.x == 2", [True, True, True, True]),
    ("a.k not in ['p']", [False, True, False, True]),
    ("1 < a.x * 2 <= 4", [True, True, False, False]),
    ("(`my-metric` ** 2 > 3) & feasible", [False, False, True, True]),
    ("(a.k == 'q') | ~feasible", [False, True, False, False]),
    ("a.x > -1e9 and feasible == true", [True, False, False, True]),
    ("a.k < 3", [False, False, False, False]),
])
def test_where_language(expr: str, expected: list[bool]) -> None:
    assert where_mask(expr, COLUMNS, 4).tolist() == expected


@pytest.mark.parametrize("expr", [
    "__import__('os').system('true')", "a.x.__class__", "[c for c in a.k]", "a.k[0]",
    "lambda: 1", "a.x >", "a.x + 1", "nope > 1", "(" * 300 + "1" + ")" * 300, "x" * 3000,
    "a.k > 1 if feasible else 2", "open('f')",
    "a.x > 1 & feasible",  # & binds tighter than >, as in pandas: parenthesize
])
def test_where_refuses_anything_else_in_one_line(expr: str) -> None:
    with pytest.raises(DseError) as err:
        where_mask(expr, COLUMNS, 4)
    assert str(err.value).startswith("--where") and "\n" not in str(err.value)


def test_sort_orders_best_first_and_missing_last() -> None:
    rows = np.arange(4)
    assert order_rows("a.x", COLUMNS, rows, {}).tolist() == [0, 1, 3, 2]
    assert order_rows("a.x", COLUMNS, rows, {"a.x": "maximize"}).tolist() == [3, 1, 0, 2]
    assert order_rows("-a.x", COLUMNS, rows, {}).tolist() == [3, 1, 0, 2]
    with pytest.raises(DseError, match="--sort"):
        order_rows("b", COLUMNS, rows, {})
    assert order_rows("-a.k", COLUMNS, rows, {}).tolist() == [3, 1, 0, 2]  # ties keep order
    assert sort_rows("a.k, -my-metric", COLUMNS, rows, {}).tolist() == [2, 0, 1, 3]


def test_nested_inner_fronts_keep_their_ties(study_file, tmp_path: Path) -> None:
    path = study_file(mode="nested", n_trials=2, extra_space="""
        [space.override]
        "demo.x" = { steps = 5 }
        "demo.y" = [0.0, 1e-300]
        "demo.level" = [0, 1]
    """, body="""
        [nested]
        outer = ["demo.level"]
    """)
    storage = str(tmp_path / "s.journal")
    run_study(load_spec(path).with_overrides(storage=storage))
    study = _study(storage)
    outer = [t for t in study.trials if t.user_attrs.get("dse.mode") == "nested-outer"]
    for t in outer:
        inner = [s for s in study.trials if s.user_attrs.get("dse.outer_trial") == t.number]
        assert len(inner) + 1 == 10  # 5 x-values, each reached by two designs


@pytest.mark.parametrize(("name", "given", "written"), [
    ("front.csv", None, ["front.csv"]),
    ("front.yml", None, ["front.yaml"]),
    ("front", None, ["front.json"]),
    ("front.csv", "json,yaml", ["front.json", "front.yaml"]),
])
def test_the_format_follows_the_output_extension_unless_given(
        tied_sweep: str, tmp_path: Path, name: str, given: str | None,
        written: list[str]) -> None:
    args = ["export", "demo", "--pareto", "--storage", tied_sweep, "-o", str(tmp_path / name)]
    assert main(args + (["--format", given] if given else [])) == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("front")) == written
    for path in written:
        assert len(load_records(tmp_path / path)) == 22
