"""dse: design-space exploration for ML-systems co-design.

The engine: study files, Optuna study set-up, serial and Ray executors, vectorized sweeps,
storage, export and the CLI. The same operations as the CLI, from Python::

    import dse
    spec = dse.load_spec("dse/studies/demo.toml")
    summary = dse.run_study(spec.with_overrides(n_trials=50))
"""

from __future__ import annotations

import dse._startup  # noqa: F401  # first: Ctrl-C in the imports below is one line
from costmodels import register as register_model
from dse._api import StudyResult, front_frame, run_study
from dse._errors import DseError, SpecError, StorageError
from dse._export import export_records, load_records, study_records
from dse._hypervolume import (
    Reference,
    ReferenceKeeper,
    hypervolume,
    hypervolume_history,
    reference_point,
    study_reference,
)
from dse._inputs import InputMap, model_inputs
from dse._pareto import ParetoFront, nondominated_mask, pareto_mask, pareto_ranks
from dse._problem import Evaluation, Problem
from dse._run import RunSummary, artifacts_dir
from dse._spec import StudySpec, find_study_file, load_spec, parse_spec, shipped_studies
from dse._storage import open_storage
from dse._sweep import SweepResult, run_sweep
from dse._sweep_tables import read_sweep
from search_spaces import register_space


__version__ = "0.1.0"

__all__ = [
    "DseError",
    "Evaluation",
    "InputMap",
    "ParetoFront",
    "Problem",
    "Reference",
    "ReferenceKeeper",
    "RunSummary",
    "SpecError",
    "StorageError",
    "StudyResult",
    "StudySpec",
    "SweepResult",
    "artifacts_dir",
    "export_records",
    "find_study_file",
    "front_frame",
    "hypervolume",
    "hypervolume_history",
    "load_records",
    "load_spec",
    "model_inputs",
    "nondominated_mask",
    "open_storage",
    "pareto_mask",
    "pareto_ranks",
    "parse_spec",
    "read_sweep",
    "reference_point",
    "register_model",
    "register_space",
    "run_study",
    "run_sweep",
    "shipped_studies",
    "study_records",
    "study_reference",
]
