"""OFA SuperNet layer tables, weight nesting and pools (costmodels.sushi._supernet, _pool)."""

from __future__ import annotations

import numpy as np
import pytest

from costmodels.sushi import (
    SUPERNETS,
    build_pool,
    common_subgraph,
    get_supernet,
    pareto_mask,
    shared_params,
)


# Reference notes sushi.md section 1, "Size and compute ranges" (analytic layer walk, int8):
# (supernet, largest?, resolution, params M, MMACs); the tolerance is the rounding of the
# published digits (half a unit of the last digit shown).
SIZES = [
    ("ofa_mbv3_w1.0", True, 224, 7.62, 566),
    ("ofa_mbv3_w1.0", True, 192, 7.62, 417),
    ("ofa_mbv3_w1.0", True, 160, 7.62, 291),
    ("ofa_mbv3_w1.0", True, 128, 7.62, 188),
    ("ofa_mbv3_w1.0", False, 224, 3.40, 121),
    ("ofa_mbv3_w1.0", False, 128, 3.40, 41),
    ("ofa_resnet50", True, 224, 48.0, 7490),
    ("ofa_resnet50", True, 128, 48.0, 2450),
    ("ofa_resnet50", False, 224, 6.52, 960),
    ("ofa_resnet50", False, 128, 6.52, 320),
]
_HALF_DIGIT = {7490: 5, 2450: 5, 960: 5, 320: 5}


@pytest.mark.parametrize(("name", "largest", "res", "params_m", "mmacs"), SIZES)
def test_layer_tables_match_reference_sizes(
    name: str, largest: bool, res: int, params_m: float, mmacs: float
) -> None:
    sn = get_supernet(name)
    t = sn.layers(sn.extreme(largest, res))
    assert t.params.sum() / 1e6 == pytest.approx(params_m, abs=0.05 if params_m == 48.0 else 0.005)
    assert t.macs.sum() / 1e6 == pytest.approx(mmacs, abs=_HALF_DIGIT.get(mmacs, 0.5))


def test_mbv3_head_is_shared_by_every_subnet() -> None:
    # 160*960 + 960*1280 + 1280*1000 + 1000 = 2.66 M parameters (reference notes section 2)
    sn = get_supernet("ofa_mbv3_w1.0")
    small, big = sn.layers(sn.extreme(False)), sn.layers(sn.extreme(True))
    head = [i for i, n in enumerate(small.names) if n.startswith("head.")]
    assert small.params[0, head].sum() == 2_663_400
    assert shared_params(small, big)[0, 0, head].sum() == 2_663_400


def test_w12_is_wider_than_w10() -> None:
    a = get_supernet("ofa_mbv3_w1.0")
    b = get_supernet("ofa_mbv3_w1.2")
    assert b.layers(b.extreme(True)).params.sum() > 1.3 * a.layers(a.extreme(True)).params.sum()
    assert min(b.resolutions) == 160


@pytest.mark.parametrize("name", list(SUPERNETS))
def test_shared_params_exact_nesting(name: str) -> None:
    sn = get_supernet(name)
    cfg = sn.sample(np.random.default_rng(1), 12)
    sn.validate(cfg)
    t = sn.layers(cfg)
    sh = shared_params(t, t)
    # a SubNet shares all of itself, the overlap is symmetric and never exceeds either side
    assert np.array_equal(sh[np.arange(12), np.arange(12)], t.params)
    assert np.array_equal(sh, sh.transpose(1, 0, 2))
    assert (sh <= np.minimum(t.params[:, None], t.params[None])).all()
    # the common SubGraph (element-wise min config) is contained in every SubNet
    g = sn.layers(common_subgraph(cfg))
    to_g = shared_params(t, g)[:, 0]
    assert np.array_equal(to_g, np.broadcast_to(g.params, to_g.shape))
    if sn.family == "mbv3":
        # MBv3: the min config's bytes are exactly the per-dimension overlap of the set
        pair = shared_params(sn.layers(cfg.take([0, 1])), t)
        two = sn.layers(common_subgraph(cfg.take([0, 1])))
        assert np.array_equal(pair[0, 1], two.params[0])
    else:
        # ResNet50: mid widths round, so the min config may hold less than the overlap
        assert (sh.sum(axis=2) >= g.params.sum()).all()


def test_validate_names_the_bad_field() -> None:
    sn = get_supernet("ofa_mbv3_w1.0")
    cfg = sn.sample(np.random.default_rng(0), 2)
    bad = type(cfg)(cfg.supernet, cfg.d, cfg.e, np.full_like(cfg.k, 4), cfg.w, cfg.r)
    with pytest.raises(ValueError, match="'k'.*4"):
        sn.validate(bad)
    with pytest.raises(ValueError, match="unknown supernet 'vit'"):
        get_supernet("vit")


def test_pareto_mask_small_example() -> None:
    objs = np.asarray([[1, 5], [2, 2], [3, 3], [5, 1], [np.nan, 0]], dtype=float)
    assert pareto_mask(objs).tolist() == [True, True, False, True, False]


@pytest.mark.parametrize("name", list(SUPERNETS))
def test_pareto_pool_is_non_dominated_and_sized(name: str) -> None:
    pool = build_pool(name, 16)
    assert len(pool) == 16
    objs = np.column_stack([pool.macs, pool.layers.params.sum(1), -pool.acc])
    assert pareto_mask(objs).all()
    assert np.all(np.diff(pool.macs) > 0)  # ordered by MACs, spread along the front
    assert len(pool.subgraphs) == 17  # pool SubNets + their common SubGraph


def test_lab_table_pool_uses_measured_accuracy() -> None:
    pool = build_pool("ofa_mbv3_w1.0", 12, "lab_table")
    assert 74.0 <= pool.acc.min() and pool.acc.max() <= 76.7
    with pytest.raises(ValueError, match="lab_table.*ofa_mbv3_w1.0"):
        build_pool("ofa_resnet50", 12, "lab_table")


def test_empty_pool_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="pool size=0"):
        build_pool("ofa_mbv3_w1.0", 0)
    with pytest.raises(ValueError, match="pool resolutions"):
        build_pool("ofa_mbv3_w1.2", 8, resolutions=(128,))
