"""Shared fixtures: storages to parametrize over, and small study files."""

from __future__ import annotations

import os
import textwrap
import warnings
from pathlib import Path

import optuna
import pytest


optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

# Storage kinds every storage-touching test runs against. Server-backed kinds run when
# .ci/run (or the developer) exports their URL; otherwise they are skipped with the reason.
STORAGE_KINDS = ["journal", "sqlite", "postgresql", "redis"]


@pytest.fixture(params=STORAGE_KINDS)
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    kind = request.param
    if kind == "journal":
        return str(tmp_path / "studies.journal")
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'studies.db'}"
    env = {"postgresql": "DSE_TEST_POSTGRES_URL", "redis": "DSE_TEST_REDIS_URL"}[kind]
    url = os.environ.get(env)
    if not url:
        pytest.skip(f"{kind} storage: set {env} to run (.ci/run starts a server)")
    _wipe(kind, url)
    return url


def _wipe(kind: str, url: str) -> None:
    # Server storages outlive a test: delete every study so each test starts empty.
    from dse import open_storage

    storage = open_storage(url)
    for s in storage.get_all_studies():
        storage.delete_study(s._study_id)


def write_study(tmp_path: Path, body: str = "", name: str = "demo", mode: str = "trial",
                n_trials: int = 30, options: str = "", sampler: str = "random",
                extra_space: str = "") -> Path:
    """A demo study file with optional extra TOML appended."""
    text = textwrap.dedent(f"""
        [study]
        name = "{name}"
        mode = "{mode}"
        seed = 1

        [models.demo]
        model = "demo"
        options = {{ {options} }}

        [space]
        domains = ["demo"]
        {extra_space}

        [[objectives]]
        metric = "demo.f1"

        [[objectives]]
        metric = "demo.f2"

        [sampler]
        name = "{sampler}"

        [budget]
        n_trials = {n_trials}
    """) + textwrap.dedent(body)
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


@pytest.fixture
def study_file(tmp_path: Path):  # type: ignore[no-untyped-def]
    def make(**kwargs):  # type: ignore[no-untyped-def]
        return write_study(tmp_path, **kwargs)

    return make


@pytest.fixture(scope="module")
def ray_cluster():  # type: ignore[no-untyped-def]
    """One local 2-CPU Ray cluster per test module (start-up costs seconds)."""
    ray = pytest.importorskip("ray")
    from dse._executors import ensure_ray

    ensure_ray(2, None)  # the local Ray dse starts (loopback only)
    yield
    ray.shutdown()
