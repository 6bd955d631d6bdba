"""The dse command line: the fixed --json shapes, export round trips, one-line errors."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from dse.cli import main


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_run_status_export_evaluate_round_trip(capsys, study_file, tmp_path: Path) -> None:
    storage = str(tmp_path / "s.journal")
    code, out, _ = _run(capsys, "run", str(study_file(n_trials=25)), "--storage", storage,
                        "--json")
    assert code == 0 and json.loads(out)["n_finished"] == 25
    code, out, _ = _run(capsys, "status", "--storage", storage, "--json")
    (row,) = json.loads(out)
    assert row["study"] == "demo" and row["trials"] == 25 and row["pareto_size"] >= 1
    assert row["hypervolume_normalized"] > 0
    assert row["hypervolume_reference"].startswith("fixed: first 10 feasible results")
    parquet = ("parquet",) if importlib.util.find_spec("pyarrow") else ()
    for fmt in ("json", "yaml", "csv", *parquet):
        target = tmp_path / f"front.{fmt}"
        code, _, _ = _run(capsys, "export", "demo", "--pareto", "--format", fmt, "-o",
                          str(target), "--storage", storage)
        assert code == 0 and target.exists()
        code, out, _ = _run(capsys, "evaluate", "demo", "--config", str(target), "--json")
        assert code == 0
        evaluated = json.loads(out)
        evaluated = evaluated if isinstance(evaluated, list) else [evaluated]
        exported = json.loads((tmp_path / "front.json").read_text()) if fmt != "json" else \
            json.loads(target.read_text())
        assert len(evaluated) == len(exported)
        for e, x in zip(evaluated, exported):
            # exactly the same numbers, not approximately
            assert e["metrics"]["f1"] == x["metrics"]["demo.f1"]
            assert e["metrics"]["f2"] == x["metrics"]["demo.f2"]
            assert e["constraints"]["budget"] == x["constraints"]["demo.budget"]


def test_export_all_trials_carries_states(capsys, study_file, tmp_path: Path) -> None:
    storage = str(tmp_path / "s.journal")
    _run(capsys, "run", str(study_file(n_trials=20, options="fail_above = 0.6")), "--storage",
         storage, "--quiet")
    _run(capsys, "export", "demo", "--format", "json", "-o", str(tmp_path / "all.json"),
         "--storage", storage)
    records = json.loads((tmp_path / "all.json").read_text())
    assert len(records) == 20
    states = {r["state"] for r in records}
    assert states == {"COMPLETE", "FAIL"}
    assert all("fail_reason" in r for r in records if r["state"] == "FAIL")


def test_evaluate_json_shape(capsys) -> None:
    code, out, _ = _run(capsys, "evaluate", "demo", "--set", "x=0.25", "--json")
    data = json.loads(out)
    assert code == 0
    assert set(data) == {"model", "params", "metrics", "constraints", "feasible"}
    assert data["params"] == {"x": 0.25, "y": 0.0, "level": 0}  # unset -> documented defaults
    assert data["metrics"]["f2"] == pytest.approx(0.5)
    assert data["feasible"] is True
    code, out, _ = _run(capsys, "evaluate", "demo", "--set", "x=0.25,0.5", "--json")
    assert [d["params"]["x"] for d in json.loads(out)] == [0.25, 0.5]


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["evaluate", "demo", "--set", "x=2"],
         "x='2' is out of range: expected a number in [0, 1]"),
        (["evaluate", "demo", "--set", "q=1"], "model 'demo' has no parameter 'q'"),
        (["evaluate", "nope"], "unknown model 'nope'"),
        (["run", "nope"], "unknown study 'nope'"),
        (["run", "demo", "--storage", "bogus://x"], "unknown scheme 'bogus'"),
        (["run", "demo", "--storage", "postgresql://u@127.0.0.1:1/db"], "cannot open storage"),
        (["run", "demo", "--n-trials", "0"], "--n-trials=0: expected an integer >= 1"),
        (["export", "nope", "-o", "x.json"], "unknown study 'nope'"),
    ],
)
def test_user_errors_are_one_line_exit_2(capsys, tmp_path, monkeypatch, argv, fragment) -> None:
    monkeypatch.chdir(tmp_path)
    if argv[0] == "export":
        _run(capsys, "run", "demo", "--n-trials", "2", "--quiet")
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("dse: error: ") and fragment in err


def test_storage_that_is_not_a_journal_is_rejected_and_kept(capsys, tmp_path: Path) -> None:
    precious = tmp_path / "notes.txt"
    precious.write_text("my notes\n")
    code, _, err = _run(capsys, "run", "demo", "--storage", str(precious), "--quiet")
    assert code == 2 and "not an Optuna journal file" in err
    assert precious.read_text() == "my notes\n"


def test_models_spaces_validate_json(capsys) -> None:
    code, out, _ = _run(capsys, "models", "--json")
    models = {m["name"]: m for m in json.loads(out)}
    assert models["demo"]["inputs"][0]["range"] == "a number in [0, 1]"
    assert {o["name"] for o in models["demo"]["outputs"]} == {"f1", "f2", "budget"}
    code, out, _ = _run(capsys, "spaces", "--json")
    assert "demo" in {s["name"] for s in json.loads(out)}
    code, out, _ = _run(capsys, "validate", "--json")
    rows = json.loads(out)
    assert code == 0 and isinstance(rows, list)
    for r in rows:
        assert set(r) == {"model", "anchor", "source", "kind", "published", "modeled",
                          "rel_error", "tolerance", "ok", "expected_miss", "note"}
        assert r["kind"] in ("held_out", "fitted", "consistency")
        assert r["ok"] or r["expected_miss"], r


def test_console_script_is_installed(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "dse.cli", "evaluate", "demo", "--set",
                           "x=0.0", "--json"], capture_output=True, text=True, cwd=tmp_path,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["metrics"]["f2"] == 1.0


def test_export_always_adds_the_format_extension(capsys, study_file, tmp_path: Path) -> None:
    storage = str(tmp_path / "s.journal")
    _run(capsys, "run", str(study_file(n_trials=12)), "--storage", storage, "--quiet")
    base = tmp_path / "front" / "x"
    code, _, _ = _run(capsys, "export", "demo", "--pareto", "--format", "csv", "-o", str(base),
                      "--storage", storage)
    assert code == 0 and (tmp_path / "front" / "x.csv").is_file() and not base.exists()
    code, _, _ = _run(capsys, "export", "demo", "--format", "json,yaml", "-o",
                      str(tmp_path / "all.json"), "--storage", storage)
    assert code == 0 and (tmp_path / "all.json").is_file() and (tmp_path / "all.yaml").is_file()


def test_evaluate_prints_units_and_whether_each_exported_metric_matches(
    capsys, study_file, tmp_path: Path
) -> None:
    storage = str(tmp_path / "s.journal")
    _run(capsys, "run", str(study_file(n_trials=10)), "--storage", storage, "--quiet")
    _run(capsys, "export", "demo", "--pareto", "-o", str(tmp_path / "f"), "--storage", storage)
    code, out, _ = _run(capsys, "evaluate", "demo", "--config", str(tmp_path / "f.json"))
    assert code == 0
    rows = [ln.split() for ln in out.splitlines() if ln.startswith("  ") and "metric" not in ln]
    assert rows and all(r[-1] == "matches" or "matches" in r for r in rows)
    code, out, _ = _run(capsys, "evaluate", "sparse_gemm", "--set", "nm_n=1")
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("latency_ms"))
    assert line.split()[2] == "ms"


def test_an_exhaustive_sweep_says_how_many_distinct_designs_its_points_held(
        capsys, tmp_path: Path) -> None:
    # vegeta's conditional parameters make 34,560 enumerated points hold 7,440 designs: the
    # summary names both, so it agrees with the progress bar's count.
    assert main(["run", "vegeta", "--storage", str(tmp_path / "v.journal"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "swept 7,440 distinct designs of 34,560 points" in out
    assert main(["run", "vegeta", "--storage", str(tmp_path / "v.journal"), "--json"]) == 0
    sweep = json.loads(capsys.readouterr().out)["sweep"]
    assert (sweep["evaluated"], sweep["enumerated"]) == (7440, 34560)
