"""``dse report --compare``: studies on one plot under one fixed reference."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest

from dashboards._compare import build_comparison
from dse import DseError, load_spec, run_study
from dse.cli import main


def _figures(page: str) -> dict:
    blob = re.search(r'<script type="application/json" id="figures">(.*?)</script>', page, re.S)
    assert blob is not None
    return json.loads(blob.group(1).replace("<\\/", "</").replace("\\u003c", "<"))


def _array(v: object) -> list[float]:
    if isinstance(v, dict):  # plotly's typed-array encoding of numpy data
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).tolist()
    return list(v)  # type: ignore[call-overload]


def test_two_seeds_share_one_reference_and_plot(study_file, tmp_path: Path) -> None:
    storage = str(tmp_path / "s.journal")
    spec = load_spec(study_file(n_trials=25))
    for seed in (0, 1):
        run_study(spec.with_overrides(storage=storage, seed=seed, name=f"demo_s{seed}"))
    path = build_comparison(storage, ["demo_s0", "demo_s1"], tmp_path / "out")
    page = path.read_text()
    assert "common to the 2 studies" in page  # no bounds declared: one reference from the union
    figs = _figures(page)
    hv = figs["compare-hv"]["data"]
    assert [t["name"] for t in hv] == ["demo_s0", "demo_s1"]
    for trace in hv:
        y = _array(trace["y"])
        assert len(y) == 25 and all(b >= a for a, b in zip(y, y[1:])) and y[-1] > 0
    assert {t["name"] for t in figs["compare-fronts"]["data"]} == {"demo_s0", "demo_s1"}


def test_different_objectives_and_single_study_are_one_line_errors(
    study_file, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = str(tmp_path / "s.journal")
    run_study(load_spec(study_file(n_trials=5)).with_overrides(storage=storage))
    other = study_file(n_trials=5, name="other").read_text().replace(
        '[[objectives]]\nmetric = "demo.f2"', '[[objectives]]\nmetric = "demo.f2"\n'
        'direction = "maximize"')
    path = tmp_path / "other2.toml"
    path.write_text(other)
    run_study(load_spec(path).with_overrides(storage=storage))
    with pytest.raises(DseError, match="expected the same objectives"):
        build_comparison(storage, ["demo", "other"], tmp_path / "out")
    assert main(["report", "--compare", "demo", "--storage", storage,
                 "-o", str(tmp_path / "o")]) == 2
    assert "at least two studies" in capsys.readouterr().err
