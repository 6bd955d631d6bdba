"""Small studies in a journal file, shaped like the engine writes them (docs/study_files.md).

Under ``--import-mode=importlib`` test modules cannot import helpers by name, so the helpers are
handed out by the ``studies`` fixture (this module).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState, create_trial


optuna.logging.set_verbosity(optuna.logging.WARNING)

T0 = dt.datetime(2026, 1, 1, 12, 0, 0)


def journal(path: Path) -> JournalStorage:
    return JournalStorage(JournalFileBackend(str(path)))


def demo_trials(n: int, seed: int = 0, start: int = 0) -> list[optuna.trial.FrozenTrial]:
    """ZDT1-like demo trials (namespace ``demo``) with a budget constraint and metrics."""
    rng = np.random.default_rng(seed)
    out = []
    dists = {
        "demo.x": FloatDistribution(0.0, 1.0),
        "demo.y": FloatDistribution(0.0, 1.0),
        "demo.level": IntDistribution(0, 3),
        "demo.mode": CategoricalDistribution(["fast", "slow"]),
    }
    for i in range(n):
        x, y, level = float(rng.random()), float(rng.random()) ** 3, int(rng.integers(0, 4))
        g = 1.0 + 9.0 * y + 0.5 * level
        f1, f2 = x, g * (1.0 - np.sqrt(x / g))
        budget = x + y - 1.5
        k = start + i
        t = create_trial(
            state=TrialState.COMPLETE,
            values=[f1, float(f2)],
            params={"demo.x": x, "demo.y": y, "demo.level": level, "demo.mode": "fast"},
            distributions=dists,
            user_attrs={"metrics": {"demo.g": g, "demo.budget": budget}},
            system_attrs={"constraints:demo.budget": budget},
        )
        at(t, k)
        out.append(t)
    return out


def at(trial: optuna.trial.FrozenTrial, k: int) -> optuna.trial.FrozenTrial:
    """Give a trial deterministic start/complete times (k-th trial, 1 s each, 2 s apart)."""
    trial.datetime_start = T0 + dt.timedelta(seconds=2 * k)
    trial.datetime_complete = T0 + dt.timedelta(seconds=2 * k + 1)
    return trial


def set_metric_names(study: optuna.Study, names: list[str]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(names)


def make_demo_study(storage: Any, name: str = "demo-zdt1", n: int = 60) -> optuna.Study:
    study = optuna.create_study(
        study_name=name, storage=storage, directions=["minimize", "minimize"]
    )
    set_metric_names(study, ["demo.f1", "demo.f2"])
    study.set_user_attr(
        "dse.objectives",
        [
            {"metric": "demo.f1", "direction": "minimize", "unit": ""},
            {"metric": "demo.f2", "direction": "minimize", "unit": ""},
        ],
    )
    study.set_user_attr(
        "dse.models", [{"namespace": "demo", "model": "demo", "version": "1", "options": {}}]
    )
    study.set_user_attr("dse.constraints", ["demo.budget"])
    study.add_trials(demo_trials(n))
    failed = create_trial(
        state=TrialState.FAIL,
        params={},
        distributions={},
        user_attrs={"dse.fail_reason": "demo model returned NaN"},
    )
    study.add_trial(failed)
    return study


def simple_trial(
    k: int,
    values: list[float] | None,
    params: dict[str, float] | None = None,
    user_attrs: dict[str, Any] | None = None,
    state: TrialState = TrialState.COMPLETE,
    constraints: dict[str, float] | None = None,
) -> optuna.trial.FrozenTrial:
    """A trial with float params in [0, 1] and deterministic timestamps."""
    params = params or {}
    t = create_trial(
        state=state,
        values=values,
        params=params,
        distributions={n: FloatDistribution(0.0, 1.0) for n in params},
        user_attrs=user_attrs or {},
        system_attrs={f"constraints:{n}": v for n, v in (constraints or {}).items()},
    )
    return at(t, k)


def make_study(storage: Any, name: str, directions: list[str], **attrs: Any) -> optuna.Study:
    study = optuna.create_study(study_name=name, storage=storage, directions=directions)
    for k, v in attrs.items():
        study.set_user_attr(k, v)
    return study


def random_values(n: int, m: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, m))


@contextlib.contextmanager
def running(server: Any) -> Iterator[Any]:
    """Run a dashboards server in a background thread for the duration of the block."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def studies() -> ModuleType:
    """This module's helpers (journal, make_demo_study, make_study, simple_trial, ...)."""
    return sys.modules[__name__]


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    return tmp_path / "studies.journal"


@pytest.fixture
def demo_storage(journal_path: Path) -> JournalStorage:
    storage = journal(journal_path)
    make_demo_study(storage)
    return storage
