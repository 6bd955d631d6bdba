"""A model in a freshly pip-installed third-party package (tests/data/roofpkg, a
``dse.costmodels`` entry point) is listed, studied from a study file that names only the model,
serially and on 2 Ray workers, exported and re-evaluated: docs/writing_models.md's promise.

The package is installed with ``pip install --no-deps --no-build-isolation --target DIR`` and
reaches ``dse`` (and its Ray workers) through ``PYTHONPATH``, as a user's site-packages would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


pytestmark = pytest.mark.slow

PKG = Path(__file__).resolve().parents[1] / "data" / "roofpkg"
DSE = Path(sys.executable).parent / "dse"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("roofpkg-src")
    shutil.copytree(PKG, src, dirs_exist_ok=True)  # the build writes beside the sources
    target = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-q",
         "--target", str(target), str(src)],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return target


def _dse(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([str(DSE), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=900)


def test_the_installed_model_is_listed_and_studied_serially(installed: Path,
                                                            tmp_path: Path) -> None:
    models = _dse(installed, tmp_path, "models", "--json")
    assert models.returncode == 0, models.stderr
    roof = next(m for m in json.loads(models.stdout) if m["name"] == "roofline")
    assert [p["name"] for p in roof["inputs"]][:2] == ["pes", "clock_ghz"]

    storage = str(tmp_path / "s.journal")
    run = _dse(installed, tmp_path, "run", str(PKG / "roof.toml"), "--storage", storage,
               "--quiet")
    assert run.returncode == 0, run.stderr
    assert "12 finished" in run.stdout and "0 failed" in run.stdout

    out = tmp_path / "front.json"
    exported = _dse(installed, tmp_path, "export", "roof", "--pareto", "--format", "json",
                    "-o", str(out), "--storage", storage)
    assert exported.returncode == 0, exported.stderr
    records = json.loads(out.read_text())
    assert records and all(r["config"]["roof"]["params"]["kernel"]["intensity"] == 4.0
                           for r in records)  # the pinned value, in the model's own schema
    again = _dse(installed, tmp_path, "evaluate", "roofline", "--config", str(out), "--json")
    assert again.returncode == 0, again.stderr
    first = json.loads(again.stdout)
    first = first[0] if isinstance(first, list) else first
    assert first["metrics"]["gflops"] == records[0]["metrics"]["roof.gflops"]


@pytest.mark.ray
def test_the_installed_model_is_studied_on_two_ray_workers(installed: Path,
                                                           tmp_path: Path) -> None:
    run = _dse(installed, tmp_path, "run", str(PKG / "roof.toml"), "--workers", "2",
               "--storage", str(tmp_path / "s.journal"), "--quiet")
    assert run.returncode == 0, run.stderr
    assert "12 finished" in run.stdout and "0 failed" in run.stdout
