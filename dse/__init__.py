"""dse: design-space exploration for ML-systems co-design.

The engine: study files, Optuna study set-up, serial and Ray executors, vectorized sweeps,
storage, export and the CLI. The same operations as the CLI, from Python
(``docs/python_api.md``)::

    import dse
    result = dse.run_study("demo", storage=":memory:", n_trials=50)
    result.front()        # the Pareto set as a pandas DataFrame
    result.study          # the Optuna study

Every error the engine, the spaces and the models report to users derives from
:class:`UserError` (a ``ValueError``).
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
from dse._inputs import InputMap, input_map, model_inputs
from dse._pareto import ParetoFront, nondominated_mask, pareto_mask, pareto_ranks
from dse._problem import Evaluation, Problem
from dse._run import RunSummary, artifacts_dir
from dse._spec import StudySpec, find_study_file, load_spec, parse_spec, shipped_studies
from dse._storage import open_storage
from dse._study import named_constraints, pareto_trials
from dse._sweep import SweepResult, run_sweep
from dse._sweep_tables import read_sweep
from search_spaces import UserError, register_space


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
    "UserError",
    "artifacts_dir",
    "export_records",
    "find_study_file",
    "front_frame",
    "hypervolume",
    "hypervolume_history",
    "input_map",
    "load_records",
    "load_spec",
    "named_constraints",
    "model_inputs",
    "nondominated_mask",
    "open_storage",
    "pareto_mask",
    "pareto_ranks",
    "parse_spec",
    "pareto_trials",
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
