"""Ray workers get models the way users define them; a worker that cannot build them stops
the run before any trial is spent."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import optuna
import pytest

import dse
from costmodels import CostModel, Output
from search_spaces import Float


pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.usefixtures("ray_cluster")]


class Parabola(CostModel):
    """Defined here only: registered in the driver, shipped to the workers by value."""

    name = "test_ray_parabola"
    inputs = (Float("x", -1.0, 1.0, default_value=0.0), Float("y", -1.0, 1.0, default_value=0.0))
    outputs = (Output("f", "", "minimize"), Output("g", "", "minimize"))

    def evaluate(self, batch: Mapping[str, np.ndarray], context: Any = None) -> dict[str, Any]:
        x, y = np.asarray(batch["x"], float), np.asarray(batch["y"], float)
        return {"f": x**2 + y**2, "g": (x - 1) ** 2 + y**2}


class DriverOnly(Parabola):
    """Builds in the driver, refuses to build anywhere else."""

    name = "test_ray_driver_only"
    driver_pid: ClassVar[int] = 0

    def __init__(self) -> None:
        if os.getpid() != self.driver_pid:
            raise RuntimeError("licence server unreachable from this host")


def _study(model: str, n: int) -> dict[str, Any]:
    return {"study": {"name": model, "seed": 0}, "models": {"p": {"model": model}},
            "objectives": [{"metric": "p.f"}, {"metric": "p.g"}],
            "sampler": {"name": "random"}, "budget": {"n_trials": n}}


def test_a_model_registered_in_the_driver_runs_on_two_workers(tmp_path: Path) -> None:
    dse.register_model(Parabola)
    result = dse.run_study(_study("test_ray_parabola", 8), storage=str(tmp_path / "s.journal"),
                           workers=2)
    assert result.n_complete == 8 and result.n_failed == 0


def test_a_worker_that_cannot_build_stops_the_run_before_any_trial(tmp_path: Path) -> None:
    DriverOnly.driver_pid = os.getpid()
    dse.register_model(DriverOnly)
    storage = str(tmp_path / "s.journal")
    with pytest.raises(dse.DseError, match=r"Ray worker cannot build the study's models "
                       r"\(p=test_ray_driver_only\): licence server unreachable"):
        dse.run_study(_study("test_ray_driver_only", 4), storage=storage, workers=2)
    study = optuna.load_study(study_name="test_ray_driver_only",
                              storage=dse.open_storage(storage))
    assert study.trials == []
