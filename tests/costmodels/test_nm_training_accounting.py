"""FLOPs and memory accounting: the paper's Table 18, the metadata table, phase consistency."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from costmodels import get_model
from costmodels.nm_training import (
    ARCHS,
    Recipe,
    inference_flops,
    mean_step_densities,
    metadata_bits_per_weight,
    model_bytes,
    training_flops,
    training_flops_by_phase,
    weight_bits_per_slot,
)


# [paper] Table 18: ViT-B/16 inference GFLOPs with the FF layers at N:M.
TABLE18 = [
    (1, 1, 34.71),
    (2, 4, 23.61),
    (1, 4, 18.06),
    (1, 8, 15.29),
    (1, 16, 13.90),
    (1, 32, 13.20),
    (1, 128, 12.69),
]


@pytest.mark.parametrize(("n", "m", "gflops"), TABLE18)
def test_vit_b_inference_flops_match_table_18_within_1pct(n: int, m: int, gflops: float) -> None:
    modeled = float(inference_flops(ARCHS["vit_b"], "ff", n / m)) / 1e9
    assert modeled == pytest.approx(gflops, rel=0.01)


def test_every_anchor_holds() -> None:
    anchors = get_model("nm_training", cache_dir=None).anchors()
    assert len(anchors) >= 20
    bad = [a.anchor for a in anchors if not a.ok]
    assert not bad, bad


def test_metadata_bits_match_the_reference_table() -> None:
    n = np.array([2, 1, 2, 1, 1, 1, 1, 1, 4, 8])
    m = np.array([4, 4, 8, 8, 16, 32, 64, 128, 32, 64])
    index = [1.000, 0.500, 0.750, 0.375, 0.250, 0.156, 0.094, 0.055, 0.625, 0.750]
    comb = [0.750, 0.500, 0.625, 0.375, 0.250, 0.156, 0.094, 0.055, 0.500, 0.516]
    total = [9.000, 4.500, 4.750, 2.375, 1.250, 0.656, 0.344, 0.180, 2.625, 2.750]
    np.testing.assert_allclose(metadata_bits_per_weight(n, m, "index"), index, atol=6e-4)
    np.testing.assert_allclose(metadata_bits_per_weight(n, m, "combinatorial"), comb, atol=6e-4)
    np.testing.assert_allclose(weight_bits_per_slot(n, m, 16, "index"), total, atol=6e-4)
    assert metadata_bits_per_weight(4, 4)[0] == 0.0  # dense needs no metadata


def test_model_bytes_shrink_only_the_sparse_layers() -> None:
    vit = ARCHS["vit_b"]
    dense = float(model_bytes(vit, "ff", 4, 4)[0])
    assert dense == pytest.approx((56.62e6 + 28.31e6) * 2, rel=1e-3)
    one32 = float(model_bytes(vit, "ff", 1, 32)[0])
    assert one32 == pytest.approx(28.31e6 * 2 + 56.62e6 * 0.65625 / 8, rel=1e-3)


def test_training_flops_phase_rows_agree_with_the_vectorized_average() -> None:
    arch = ARCHS["vit_b"]
    for name in (
        "ste",
        "srste",
        "mdgf_linear",
        "mdgf_exp",
        "sdgf_stepwise",
        "sdgf_geometric",
        "dense",
    ):
        for backward in ("ste", "scaled"):
            r = Recipe(recipe=name, n=1, m=32, total_steps=10_000, backward=backward)
            rows = training_flops_by_phase(r, arch, "ff", 4)
            fwd, dw = mean_step_densities(
                np.array([name]),
                np.array([1]),
                np.array([32]),
                np.array([0.05]),
                np.array([0.15]),
                np.array([0.7]),
                np.array([backward]),
            )
            vec = float(training_flops(arch, "ff", 40_000, fwd, dw)[0])
            assert sum(float(row["train_flops"]) for row in rows) == pytest.approx(vec, rel=1e-3)


def test_training_flops_order_the_recipes_as_the_phase_model_says() -> None:
    names = np.array(["dense", "srste", "mdgf_exp", "sdgf_stepwise", "sdgf_geometric"])
    ones = np.ones(5)
    fwd, dw = mean_step_densities(
        names, ones, 32 * ones, 0.05 * ones, 0.15 * ones, 0.7 * ones, np.array(["ste"] * 5)
    )
    flops = dict(zip(names, training_flops(ARCHS["vit_b"], "ff", 1.0, fwd, dw), strict=True))
    # MDGF keeps W~ dense until the decay ends: dearer than SR-STE, cheaper than dense.
    assert flops["srste"] < flops["sdgf_stepwise"] < flops["mdgf_exp"] < flops["dense"]
    assert flops["sdgf_geometric"] == pytest.approx(flops["srste"])  # constant density
    scaled = mean_step_densities(
        names[2:3], ones[:1], 32 * ones[:1], [0.05], [0.15], [0.7], np.array(["scaled"])
    )
    assert scaled[1][0] < dw[2]  # pruned weights get no gradient between decay end and fine-tune


def test_import_and_accounting_work_without_torch() -> None:
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import costmodels.nm_training as nm\n"
        "from costmodels import get_model, ModelError\n"
        "m = get_model('nm_training', fidelity='tiny', cache_dir=None)\n"
        "print(round(float(nm.inference_flops(nm.ARCHS['vit_b'], 'ff', 1/32)) / 1e9, 2))\n"
        "print(len(m.accounting(m.batch(recipe='srste'))), len(m.anchors()) > 0)\n"
        "try:\n"
        "    m.evaluate(m.batch(recipe='srste', n=1, m=16))\n"
        "except ModelError as e:\n"
        "    print('ERR', e)\n"
    )
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root, env=env
    )
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "13.21"
    assert lines[1] == "4 True"
    assert lines[2].startswith("ERR") and "pip install 'dse[train]'" in lines[2]
