"""The ``vegeta`` domain space: the model's parameters, narrowed; constraints are the model's."""

from __future__ import annotations

import numpy as np
import pytest

from costmodels import get_model
from search_spaces import Fixed, domain


@pytest.fixture(scope="module")
def space():  # type: ignore[no-untyped-def]
    return domain("vegeta")


def test_params_are_model_inputs_within_range(space) -> None:  # type: ignore[no-untyped-def]
    model = get_model("sparse_gemm")
    inputs = {p.name: p for p in model.inputs}
    assert set(space.names) <= set(inputs)
    for p in space.params:
        values = p.values()
        assert values is not None, p.name  # finite: the space can be swept
        assert inputs[p.name].contains(values).all(), p.name
        assert p.default == inputs[p.name].default or isinstance(p, Fixed), p.name


def test_the_models_violations_are_the_constraints(space) -> None:  # type: ignore[no-untyped-def]
    assert space.constraints == ()  # patterns and register budget are the model's outputs
    model = get_model("sparse_gemm")
    batch = space.sample(np.random.default_rng(0), 3000)
    out = model.evaluate(model.batch(None, **{k: batch[k] for k in space.names}))
    feasible = np.ones(3000, dtype=bool)
    for name in model.constraint_names():
        feasible &= out[name] <= 0
    assert 0.0 < feasible.mean() < 1.0


def test_conditional_parameters_fall_back_to_defaults(space) -> None:  # type: ignore[no-untyped-def]
    batch = space.complete(
        {
            "engine": np.asarray(["rasa_sm"]),
            "alpha": np.asarray([2]),
            "sparsity": np.asarray(["rowwise"]),
            "nm_n": np.asarray([1]),
        }
    )
    assert batch["alpha"][0] == 16  # inactive for RASA-SM
    assert batch["nm_n"][0] == 2  # inactive in row-wise mode


def test_narrowed_space_sweeps_exhaustively(space) -> None:  # type: ignore[no-untyped-def]
    small = space.narrowed(
        {
            "engine": "vegeta",
            "tile_regs": 8,
            "load_ports": 2,
            "load_port_bytes": 128,
            "clock_ghz": 2.0,
            "l2_bytes_per_cycle": 128,
            "blocking": "auto",
            "loop_order": "nm",
            "sparsity": "nm",
            "nm_m": 4,
            "density": 0.05,
            "row_chunk": 32,
            "b_m": 2,
            "b_n": 1,
        }
    )
    assert small.size == 5 * 3 * 2 * 4
    points = next(small.enumerate())
    assert len(points["alpha"]) == small.size and space.feasible(points).all()
