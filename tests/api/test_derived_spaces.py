"""A model's declared inputs are its default space; domains add only what they know."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

import dse
from costmodels import CostModel, Output, get_model_class, register
from search_spaces import Float, domain


def _spec(models: str, extra: str = "", objectives: str = "demo.f1,demo.f2") -> dse.StudySpec:
    import tomllib

    objs = "".join(f'\n[[objectives]]\nmetric = "{m}"\n' for m in objectives.split(","))
    text = f'[study]\nname = "derived"\nseed = 0\n{models}\n{extra}\n{objs}'
    return dse.load_spec(tomllib.loads(text))


def test_a_study_naming_only_a_model_searches_its_declared_inputs() -> None:
    problem = dse.Problem(_spec('[models.demo]\nmodel = "demo"'))
    model = get_model_class("demo")
    assert problem.space.names == tuple(f"demo.{p.name}" for p in model.inputs)
    for p in model.inputs:
        q = problem.space[f"demo.{p.name}"]
        assert (q.doc, q.unit, q.default) == (p.doc, p.unit, p.default)


def test_an_import_path_needs_no_registration(tmp_path: Path) -> None:
    spec = _spec('[models.demo]\nmodel = "costmodels.demo:DemoModel"',
                 '[budget]\nn_trials = 4').with_overrides(storage=str(tmp_path / "s.journal"))
    summary = dse.run_study(spec)
    assert summary.n_complete == 4
    study = dse.open_storage(str(tmp_path / "s.journal"))
    import optuna

    records = dse.study_records(optuna.load_study(study_name="derived", storage=study))
    assert all(r["config"]["demo"]["model"] == "demo" for r in records)  # rebuilt from the path


def test_a_bad_import_path_is_one_line() -> None:
    with pytest.raises(dse.SpecError,
                       match="models.demo: model 'no_such_pkg.mod:Model': cannot import"):
        dse.Problem(_spec('[models.demo]\nmodel = "no_such_pkg.mod:Model"'))


def test_the_study_file_narrows_pins_and_renames() -> None:
    spec = _spec(
        '[models.demo]\nmodel = "demo"\nbind = { x = "shared.x" }',
        '[space.override]\n"demo.level" = 0\n"shared.x" = { low = 0.2, high = 0.4 }',
    )
    space = dse.Problem(spec).space
    assert space.names == ("shared.x", "demo.y", "demo.level")
    assert space["demo.level"].default == 0 and space["demo.level"].size == 1
    assert (space["shared.x"].low, space["shared.x"].high) == (0.2, 0.4)  # type: ignore[attr-defined]
    with pytest.raises(dse.SpecError, match=r"demo\.y: override .* leaves the declared range"):
        dse.Problem(_spec('[models.demo]\nmodel = "demo"',
                          '[space.override]\n"demo.y" = { low = -1.0, high = 0.5 }'))


def test_a_domain_and_a_model_table_mix() -> None:
    spec = _spec('[models.demo]\nmodel = "demo"\n[models.toy]\nmodel = "demo"',
                 '[space]\ndomains = ["demo", "toy"]')
    space = dse.Problem(spec).space
    assert {"demo.x", "toy.x", "toy.level"} <= set(space.names)
    assert [c.name for c in space.constraints] == ["demo.budget"]  # the demo domain's own
    with pytest.raises(dse.SpecError, match="unknown space 'nope'.*or a model table"):
        dse.Problem(_spec('[models.demo]\nmodel = "demo"', '[space]\ndomains = ["nope"]'))


@pytest.mark.parametrize("name, model", [("comet", "cluster"), ("sushi", "sushi"),
                                         ("nm_sparsity", "nm_training"),
                                         ("vegeta", "sparse_gemm")])
def test_domain_parameters_are_the_models_declarations(name: str, model: str) -> None:
    cls = get_model_class(model)
    for p in domain(name).params:
        declared = cls.input(p.name)
        assert (p.doc, p.unit) == (declared.doc, declared.unit), p.name
        values = p.values()
        assert values is None or declared.contains(values).all(), p.name


class _Costly(CostModel):
    """An expensive model counting the points it is sent."""

    name = "test_costly"
    expensive = True
    inputs = (Float("x", 0.0, 1.0, default_value=0.5),)
    outputs = (Output("cost", "", "minimize"),)
    seen: ClassVar[list[float]] = []

    def evaluate(self, batch: Mapping[str, np.ndarray], context: Any = None) -> dict[str, Any]:
        x = np.asarray(batch["x"], dtype=np.float64)
        _Costly.seen.extend(x.tolist())
        return {"cost": x * 2}


def test_cheap_models_violations_keep_points_from_expensive_models() -> None:
    register(_Costly)
    _Costly.seen.clear()
    spec = _spec('[models.demo]\nmodel = "demo"\n[models.c]\nmodel = "test_costly"\n'
                 'bind = { x = "demo.x" }', objectives="demo.f1,c.cost")
    problem = dse.Problem(spec)
    batch = {"demo.x": np.asarray([0.9, 0.2]), "demo.y": np.asarray([0.9, 0.1]),
             "demo.level": np.asarray([0, 0])}
    ev = problem.evaluate(batch)
    assert _Costly.seen == [0.2]  # x + y = 1.8 > 1.5 violates demo.budget: never sent
    assert ev.ok.all() and ev.feasible.tolist() == [False, True]
    assert ev.values[1, 1] == pytest.approx(0.4)
