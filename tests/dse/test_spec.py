"""Study-file validation: every mistake is one line naming the file, the key and what was
expected, and nothing is written to the storage."""

from __future__ import annotations

from pathlib import Path

import pytest

from dse import SpecError, load_spec, parse_spec, run_study, shipped_studies
from dse._spec import find_study_file


def test_shipped_demo_loads() -> None:
    spec = load_spec(shipped_studies()["demo"])
    assert spec.name == "demo" and spec.mode == "trial"
    assert [o.metric for o in spec.objectives] == ["demo.f1", "demo.f2"]


def test_every_shipped_study_loads_and_builds() -> None:
    from dse import Problem

    shipped = shipped_studies()
    assert {"demo", "vegeta", "joint", "comet_1t", "nm_decay", "sushi_cache"} <= set(shipped)
    for name, path in shipped.items():
        spec = load_spec(path)
        problem = Problem(spec)
        assert problem.objectives, name
        assert spec.notes == (), (name, spec.notes)  # no key the study's mode ignores


BASE = """
[study]
name = "t"
[models.demo]
[[objectives]]
metric = "demo.f1"
"""


@pytest.mark.parametrize(
    "extra, fragment",
    [
        ("[budget]\nn_trials = 0\n", "budget.n_trials: expected an integer >= 1, got 0"),
        ("[budget]\nn_trials = 'ten'\n", "budget.n_trials: expected an integer, got 'ten'"),
        ("[budget]\ntrials = 5\n", "unknown key 'budget.trials' in [budget]"),
        ("[sampler]\nname = 'cmaes'\n", "sampler.name: expected one of tpe,"),
        ("[executor]\nkind = 'dask'\n", "executor.kind: expected one of serial, ray"),
        ("[sweep]\nmethod = 'magic'\n", "sweep.method: expected one of exhaustive, evolutionary"),
        ("colour = 'red'\n", "unknown key 'colour' in the top level"),
    ],
)
def test_bad_keys_are_one_line_errors(tmp_path: Path, extra: str, fragment: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(extra + BASE if extra.startswith("colour") else BASE + extra)
    with pytest.raises(SpecError) as exc:
        load_spec(path)
    msg = str(exc.value)
    assert msg.startswith(str(path)) and fragment in msg and "\n" not in msg


def test_malformed_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.toml"
    bad.write_text("[study\nname=")
    with pytest.raises(SpecError, match="not valid TOML"):
        load_spec(bad)
    with pytest.raises(SpecError, match="cannot read study file"):
        load_spec(tmp_path / "missing.toml")
    with pytest.raises(SpecError, match="unknown study 'nope'.*expected one of .*demo"):
        find_study_file("nope")


@pytest.mark.parametrize(
    "patch, fragment",
    [
        ({"models": {"demo": {"model": "nope"}}}, "models.demo: unknown model 'nope'"),
        ({"models": {"demo": {"options": {"bogus": 1}}}},
         "models.demo: model 'demo' has no option 'bogus'"),
        ({"models": {"demo": {"options": {"delay_s": "x"}}}},
         "models.demo: model 'demo': option delay_s = 'x': expected a number"),
        ({"space": {"override": {"demo.zz": 1}}}, "override for unknown parameter 'demo.zz'"),
        ({"space": {"override": {"demo.level": 9}}}, "demo.level=9 is out of range"),
        ({"space": {"override": {"demo.x": {"high": 3.0}}}}, "leaves the declared range"),
        ({"objectives": [{"metric": "demo.f9"}]}, "unknown metric 'demo.f9'"),
        ({"space": {"domains": ["nope"]}}, "unknown space 'nope'"),
    ],
)
def test_semantic_errors_are_caught_before_anything_is_written(
    tmp_path: Path, patch: dict, fragment: str
) -> None:
    data = {"study": {"name": "t"}, "models": {"demo": {}},
            "objectives": [{"metric": "demo.f1"}]}
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}  # type: ignore[dict-item]
        else:
            data[key] = value
    storage = tmp_path / "s.journal"
    spec = parse_spec(data, "x.toml").with_overrides(storage=str(storage))
    with pytest.raises(Exception) as exc:
        run_study(spec)
    assert fragment in str(exc.value)
    assert isinstance(exc.value, ValueError)
    assert not storage.exists() or storage.stat().st_size == 0


def test_cli_overrides() -> None:
    spec = load_spec(shipped_studies()["demo"]).with_overrides(
        n_trials=7, workers=2, seed=3, storage="x.journal")
    assert spec.budget.n_trials == 7 and spec.executor.kind == "ray"
    assert spec.executor.workers == 2 and spec.seed == 3 and spec.storage == "x.journal"
