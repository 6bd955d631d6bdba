"""The codesign and joint studies end to end on a tiny proxy: run, export, re-evaluate.

``dse run`` writes the study file's ``[outputs]`` (report and Pareto export) and prints where;
``dse evaluate --study`` re-runs the whole pipeline on every exported record and must reproduce
every exported metric exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from dse import open_storage, shipped_studies
from dse.cli import main


pytestmark = pytest.mark.slow


def _tiny_study(name: str, tmp_path: Path, n_trials: int) -> Path:
    """The shipped study with a 40-step proxy, a private cache and outputs under tmp_path."""
    text = Path(shipped_studies()[name]).read_text()
    text = text.replace('fidelity = "default"',
                        f'fidelity = "tiny", cache_dir = "{tmp_path / "cache"}"')
    text = text.replace("[budget]\nn_trials = ", f"[budget]\nn_trials = {n_trials}\n# was ")
    text = text.replace('report = "dse-report/codesign"', f'report = "{tmp_path / "report"}"')
    text = text.replace('export = "dse-export/codesign.json"',
                        f'export = "{tmp_path / "front.json"}"')
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


def _reevaluates_exactly(study_file: Path, export: Path, capsys: pytest.CaptureFixture[str]
                         ) -> list[dict[str, object]]:
    records = json.loads(export.read_text())
    assert records and all(r["pareto"] for r in records)
    assert main(["evaluate", "--study", str(study_file), "--config", str(export), "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert len(results) == len(records)
    for rec, res in zip(records, results):
        assert res["trial"] == rec["trial"]
        assert res["metrics"] == rec["metrics"]  # same keys, every value exactly
        assert res["feasible"] == rec["feasible"]
    return records


@pytest.fixture(scope="module")
def codesign_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """One tiny ``dse run codesign``: (study file, its folder, what it printed)."""
    pytest.importorskip("torch")
    import contextlib
    import io

    tmp_path = tmp_path_factory.mktemp("codesign")
    study_file = _tiny_study("codesign", tmp_path, n_trials=3)
    journal = str(tmp_path / "s.journal")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["run", str(study_file), "--storage", journal, "--quiet"]) == 0
    return study_file, tmp_path, printed.getvalue()


def test_codesign_runs_writes_report_and_export_and_reevaluates_exactly(
    codesign_run: tuple[Path, Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    study_file, tmp_path, out = codesign_run
    assert f"report: {tmp_path / 'report'}" in out
    assert f"Pareto set exported: {tmp_path / 'front.json'}" in out
    assert (tmp_path / "report" / "index.html").exists()
    records = _reevaluates_exactly(study_file, tmp_path / "front.json", capsys)
    config = records[0]["config"]
    assert set(config) == {"nm", "nmd", "hw", "hwd", "link", "sushi", "acc", "cl", "train"}
    params = records[0]["params"]
    # Bound shared values and linked inputs reach each model's native config.
    if params.get("nm.recipe") != "dense":
        assert config["hw"]["params"]["sparsity"]["nm_n"] == params["sparsity.n"]
    metrics = records[0]["metrics"]
    assert config["acc"]["params"]["proxy_acc_pct"] == metrics["nm.top1_acc"]
    assert config["train"]["params"]["iter_time_s"] == metrics["cl.iter_time_s"]
    assert len([k for k in metrics if k in ("acc.served_acc_pct", "sushi.latency_ms",
                                             "sushi.energy_mj", "train.time_to_train_days")]) == 4
    # CSV records (strings) re-evaluate to the same metrics too.
    csv_path = tmp_path / "front.csv"
    assert main(["export", "codesign", "--pareto", "--format", "csv", "-o", str(csv_path),
                 "--storage", str(tmp_path / "s.journal")]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--study", str(study_file), "--config", str(csv_path), "--json"]) == 0
    assert [r["metrics"] for r in json.loads(capsys.readouterr().out)] == \
        [r["metrics"] for r in records]


def test_joint_exports_reevaluate_exactly_and_dense_designs_carry_no_ratio(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("torch")
    study_file = _tiny_study("joint", tmp_path, n_trials=4)
    journal = str(tmp_path / "s.journal")
    assert main(["run", str(study_file), "--storage", journal, "--quiet"]) == 0
    capsys.readouterr()
    export = tmp_path / "joint.json"
    assert main(["export", "joint", "--pareto", "-o", str(export), "--storage", journal]) == 0
    capsys.readouterr()
    _reevaluates_exactly(study_file, export, capsys)
    study = optuna.load_study(study_name="joint", storage=open_storage(journal))
    for t in study.get_trials():
        if t.params.get("nm.recipe") == "dense":
            assert "sparsity.n" not in t.params and "sparsity.m" not in t.params


def test_evaluate_study_needs_a_config_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--study", "codesign"]) == 2
    assert "expected --config FILE" in capsys.readouterr().err

