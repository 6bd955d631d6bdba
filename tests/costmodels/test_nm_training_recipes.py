"""Schedules of the N:M recipes (torch-free): phases, SDGF chains, decay factors, bad input."""

from __future__ import annotations

import math

import pytest

from costmodels import ModelError
from costmodels.nm_training import RECIPES, Recipe, sdgf_chain


def test_sdgf_stepwise_chain_matches_the_paper_examples() -> None:
    # [paper] §3: 1:8 -> 7:8 -> 4:8 -> 2:8 -> 1:8; code comment for 1:16; derived 1:32 chain.
    assert sdgf_chain("sdgf_stepwise", 1, 8) == [(7, 8), (4, 8), (2, 8), (1, 8)]
    assert [n for n, _ in sdgf_chain("sdgf_stepwise", 1, 16)] == [15, 8, 4, 2, 1]
    assert [n for n, _ in sdgf_chain("sdgf_stepwise", 1, 32)] == [31, 16, 8, 4, 2, 1]
    assert sdgf_chain("sdgf_stepwise", 2, 4) == [(3, 4), (2, 4)]


def test_sdgf_geometric_chain_keeps_the_density() -> None:
    # [paper] k = 16 for 1:8: 16:128 -> 8:64 -> 4:32 -> 2:16 -> 1:8; the code's k = 8 drops 16:128.
    assert sdgf_chain("sdgf_geometric", 1, 8, 16) == [(16, 128), (8, 64), (4, 32), (2, 16), (1, 8)]
    assert sdgf_chain("sdgf_geometric", 1, 32, 8) == [(8, 256), (4, 128), (2, 64), (1, 32)]
    with pytest.raises(ModelError, match="sdgf_k"):
        sdgf_chain("sdgf_geometric", 1, 8, 12)


def test_phases_cover_every_step_in_order() -> None:
    for name in RECIPES:
        r = Recipe(recipe=name, n=1, m=16, total_steps=200)
        segs = r.segments()
        assert segs[0].start == 0 and segs[-1].end == 200
        assert all(a.end == b.start for a, b in zip(segs, segs[1:], strict=False))


def test_mdgf_decay_reaches_its_final_value_at_the_decay_end() -> None:
    r = Recipe(
        recipe="mdgf_exp",
        total_steps=1000,
        dense_warmup_frac=0.1,
        decay_end_frac=0.6,
        decay_final=1e-3,
    )
    assert r.warmup_end == 100 and r.decay_end == 600
    assert r.decay_at(100) == 1.0
    assert r.decay_at(599) == pytest.approx(1e-3, rel=0.02)
    assert r.decay_at(600) == 0.0
    assert r.decay_rate == pytest.approx(math.log(1e3) / 500)
    lin = Recipe(
        recipe="mdgf_linear",
        total_steps=1000,
        dense_warmup_frac=0.1,
        decay_end_frac=0.6,
        decay_final=0.0,
    )
    assert lin.decay_at(350) == pytest.approx(0.5)
    assert lin.state_at(350).kind == "soft" and lin.state_at(700).kind == "sparse"
    assert lin.state_at(900).kind == "finetune"


def test_step_states_follow_the_recipe_rules() -> None:
    r = Recipe(recipe="srste", total_steps=100, srste_lambda_w=3e-4)
    assert r.state_at(0).kind == "dense"
    assert r.state_at(50).lambda_w == 3e-4 and r.state_at(99).kind == "sparse"
    scaled = Recipe(recipe="mdgf_exp", total_steps=100, backward="scaled")
    assert scaled.state_at(30).scale_grad and scaled.state_at(75).scale_grad
    assert not scaled.state_at(95).scale_grad  # fine-tune is plain STE
    sdgf = Recipe(
        recipe="sdgf_stepwise",
        n=1,
        m=8,
        total_steps=100,
        dense_warmup_frac=0.0,
        decay_end_frac=0.6,
        finetune_frac=0.2,
    )
    patterns = [sdgf.state_at(s).n for s in range(100)]
    assert patterns[0] == 7 and patterns[20] == 4 and patterns[40] == 2 and patterns[60] == 1
    assert Recipe(recipe="dense", total_steps=10).state_at(9).kind == "dense"


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"n": 5, "m": 4}, "n="),
        (
            {"recipe": "mdgf_exp", "dense_warmup_frac": 0.3, "decay_end_frac": 0.2},
            "decay_end_frac=",
        ),
        (
            {"recipe": "sdgf_stepwise", "decay_end_frac": 0.95, "finetune_frac": 0.1},
            "decay_end_frac=",
        ),
        ({"recipe": "bogus"}, "recipe="),
        ({"backward": "sideways"}, "backward="),
        ({"mask_update_interval": 0}, "mask_update_interval="),
        ({"recipe": "mdgf_exp", "decay_final": 0.0}, "decay_final="),
    ],
)
def test_bad_recipes_name_the_parameter(kwargs: dict[str, object], param: str) -> None:
    with pytest.raises(ModelError, match=param):
        Recipe(**kwargs)  # type: ignore[arg-type]
