"""The wheel is the product: built from the sources, installed into a fresh environment, it runs
the shipped demo study outside the checkout, ``python -m dse`` and ``dse --version`` work, and it
carries the studies, ``py.typed`` and the LICENSE.

The fresh environment is a new venv whose only extra path is this environment's site-packages
(so optuna, ray and torch are not reinstalled); this checkout's editable install is not visible
there (its import hook is a ``.pth`` file, which an added path does not run).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest


pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("dse", "costmodels", "search_spaces", "dashboards", "pyproject.toml", "README.md",
           "LICENSE")


def _run(*cmd: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:  # a copy, so the build leaves nothing in the checkout
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, src / name)
    out = tmp_path_factory.mktemp("wheel")
    done = _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                "-q", "-w", out, src, cwd=src)
    assert done.returncode == 0, done.stderr
    (whl,) = out.glob("dse-*.whl")
    return whl


def test_the_wheel_carries_studies_types_and_license(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {p.name for p in (ROOT / "dse" / "studies").glob("*.toml")}
    assert shipped and {f"dse/studies/{n}" for n in shipped} <= names
    for pkg in ("dse", "costmodels", "search_spaces", "dashboards"):
        assert f"{pkg}/py.typed" in names
    assert "dse/__main__.py" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "costmodels/sushi/data/ofa_mbv3_k7_r224_accuracy.csv" in names


def test_installed_from_the_wheel_dse_runs_the_demo_outside_the_checkout(
    wheel: Path, tmp_path: Path
) -> None:
    env = tmp_path / "venv"
    made = _run(sys.executable, "-m", "venv", "--without-pip", env, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    python = env / "bin" / "python"
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                     cwd=tmp_path).stdout.strip())
    (site / "_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    done = _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q",
                wheel, cwd=tmp_path)
    assert done.returncode == 0, done.stderr

    where = _run(python, "-c", "import dse; print(dse.__file__)", cwd=tmp_path)
    assert where.stdout.strip().startswith(str(site)), where  # the wheel's copy, not ours
    run = _run(env / "bin" / "dse", "run", "demo", "--n-trials", "5", "--quiet",
               "--storage", tmp_path / "s.journal", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "5 finished" in run.stdout
    version = _run(python, "-m", "dse", "--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("dse "), version
    show = _run(env / "bin" / "dse", "show", "vegeta", cwd=tmp_path)
    assert show.returncode == 0 and "[study]" in show.stdout, show
