"""``dse.load_spec`` takes a path, a shipped study's name or the study as a dict."""

from __future__ import annotations

import tomllib

import pytest

import dse


def test_a_shipped_name_a_path_and_a_dict_give_the_same_spec() -> None:
    path = dse.shipped_studies()["demo"]
    by_path = dse.load_spec(path)
    by_name = dse.load_spec("demo")
    by_dict = dse.load_spec(tomllib.loads(path.read_text()))
    assert by_name == by_path
    assert by_dict.raw == by_path.raw and by_dict.objectives == by_path.objectives


def test_a_bad_dict_is_one_line_naming_the_key() -> None:
    with pytest.raises(dse.SpecError, match=r"study\.mode: expected one of"):
        dse.load_spec({"study": {"name": "x", "mode": "fast"}, "models": {"demo": {}},
                       "objectives": [{"metric": "demo.f1"}]})


def test_with_overrides_rejects_unknown_keys() -> None:
    spec = dse.load_spec("demo")
    assert spec.with_overrides(n_trials=7).budget.n_trials == 7
    with pytest.raises(dse.SpecError, match="unknown override 'n_trial'; expected one of"):
        spec.with_overrides(n_trial=7)
