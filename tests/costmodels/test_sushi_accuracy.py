"""Accuracy fits and the lookup hook (costmodels.sushi._accuracy)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from costmodels.sushi import AccuracyModel, fit_report, get_supernet
from costmodels.sushi._accuracy import LAB_TABLE, load_accuracy_table


def test_published_fits_match_reference_coefficients() -> None:
    rep = fit_report()
    # reference notes section 1: 55.07 + 3.91 ln(MMACs), max residual 0.76 pp
    assert rep["published_mbv3"]["intercept"] == pytest.approx(55.07, abs=0.01)
    assert rep["published_mbv3"]["slope_ln_macs"] == pytest.approx(3.91, abs=0.005)
    assert rep["published_mbv3"]["max_abs_resid_pp"] == pytest.approx(0.76, abs=0.01)
    # 76.55 + 2.50 ln(GMACs), max residual 0.28 pp
    assert rep["published_resnet50"]["intercept"] == pytest.approx(76.55, abs=0.01)
    assert rep["published_resnet50"]["slope_ln_macs"] == pytest.approx(2.50, abs=0.005)
    assert rep["published_resnet50"]["max_abs_resid_pp"] == pytest.approx(0.28, abs=0.01)


def test_lab_fit_and_held_out_split() -> None:
    rep = fit_report()
    log_only, arch = rep["lab_log_macs"], rep["lab_log_macs_arch"]
    # reference notes: 61.30 + 2.46 ln(MMACs), residual SD 0.27 pp (fit on 80 % here)
    assert log_only["intercept"] == pytest.approx(61.3, abs=0.15)
    assert log_only["slope_ln_macs"] == pytest.approx(2.46, abs=0.03)
    assert log_only["test_resid_sd_pp"] == pytest.approx(0.27, abs=0.03)
    assert (log_only["n_train"], log_only["n_test"]) == (800, 200)
    # the architecture features explain most of what ln(MACs) leaves, on held-out SubNets too
    assert arch["test_resid_sd_pp"] < 0.5 * log_only["test_resid_sd_pp"]
    assert arch["r2_test"] > 0.9


def test_predictions_rise_with_macs_and_trends_differ() -> None:
    sn = get_supernet("ofa_mbv3_w1.0")
    small, big = sn.extreme(False), sn.extreme(True)
    macs = np.asarray([sn.layers(small).macs.sum(), sn.layers(big).macs.sum()])
    cfgs = type(small).concat([small, big])
    pub = AccuracyModel("published").predict(cfgs, macs)
    lab = AccuracyModel("lab").predict(cfgs, macs)
    assert pub[1] > pub[0] and lab[1] > lab[0]
    assert pub[1] > lab[1]  # fine-tuned specialized nets sit above the lab SuperNet
    with pytest.raises(ValueError, match="trend='oracle'"):
        AccuracyModel("oracle")


def test_lookup_table_overrides_fit(tmp_path: Path) -> None:
    table = load_accuracy_table(LAB_TABLE)
    cfg = table.configs.take([0, 1, 2])
    macs = get_supernet("ofa_mbv3_w1.0").layers(cfg).macs.sum(axis=1)
    path = tmp_path / "acc.csv"
    lines = LAB_TABLE.read_text().splitlines()
    # keep rows 0 and 1 only, with accuracy 50.0 for row 0
    row0 = lines[1].rsplit(",", 1)[0] + ",50.0"
    path.write_text("\n".join([lines[0], row0, lines[2]]) + "\n")
    acc = AccuracyModel(lookup=path).predict(cfg, macs)
    fit = AccuracyModel().predict(cfg, macs)
    assert acc[0] == 50.0
    assert acc[1] == pytest.approx(table.top1[1])
    assert acc[2] == pytest.approx(fit[2])


def test_malformed_lookup_table_names_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("resolution,top1_acc\n224,75.0\n")
    with pytest.raises(ValueError, match=r"bad\.csv: missing column 'd_s1'"):
        AccuracyModel(lookup=bad)
    shutil.copy(LAB_TABLE, tmp_path / "ok.csv")
    text = (tmp_path / "ok.csv").read_text().replace(",74.980", ",abc", 1)
    (tmp_path / "ok.csv").write_text(text)
    with pytest.raises(ValueError, match=r"ok\.csv: bad value"):
        AccuracyModel(lookup=tmp_path / "ok.csv")
    with pytest.raises(ValueError, match="missing.csv: cannot read"):
        AccuracyModel(lookup=tmp_path / "missing.csv")
