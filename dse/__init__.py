"""dse: design-space exploration for ML-systems co-design.

The engine: study files, Optuna study set-up, serial and Ray executors, vectorized sweeps,
storage, export and the CLI. The same operations as the CLI, from Python::

    import dse
    spec = dse.load_spec("studies/demo.toml")
    summary = dse.run_study(spec.with_overrides(n_trials=50))
"""

from __future__ import annotations

from dse._errors import DseError
from dse._errors import SpecError
from dse._errors import StorageError
from dse._export import export_records
from dse._export import load_records
from dse._export import study_records
from dse._hypervolume import hypervolume
from dse._hypervolume import reference_point
from dse._pareto import ParetoFront
from dse._pareto import nondominated_mask
from dse._problem import Evaluation
from dse._problem import Problem
from dse._progress import normalized_hypervolume
from dse._run import RunSummary
from dse._run import artifacts_dir
from dse._run import run_study
from dse._spec import StudySpec
from dse._spec import find_study_file
from dse._spec import load_spec
from dse._spec import parse_spec
from dse._spec import shipped_studies
from dse._storage import open_storage
from dse._sweep import SweepResult
from dse._sweep import run_sweep


__version__ = "0.1.0"

__all__ = [
    "DseError",
    "Evaluation",
    "ParetoFront",
    "Problem",
    "RunSummary",
    "SpecError",
    "StorageError",
    "StudySpec",
    "SweepResult",
    "artifacts_dir",
    "export_records",
    "find_study_file",
    "hypervolume",
    "load_records",
    "load_spec",
    "nondominated_mask",
    "normalized_hypervolume",
    "open_storage",
    "parse_spec",
    "reference_point",
    "run_study",
    "run_sweep",
    "shipped_studies",
    "study_records",
]
