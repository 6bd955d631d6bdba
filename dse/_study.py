"""Creating, resuming and recording into Optuna studies.

A study carries its own description as study user attributes (``dse.spec``, ``dse.objectives``,
``dse.models``, ``dse.constraints``), so dashboards and export need nothing but the storage.
Re-running a study resumes it: its objectives must match, trials left RUNNING by a crashed run
are failed with the reason and their params are retried once, and ``n_trials`` is the study's
total budget.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from dse._errors import DseError, SpecError
from dse._hypervolume import Reference, study_reference
from dse._inputs import INPUTS_ATTR, InputMap
from dse._optuna_bridge import distribution
from dse._pareto import pareto_mask
from dse._problem import Problem
from dse._runs import RUN_ATTR, RunRegistration
from dse._values import stored
from search_spaces import Fixed


__all__ = [
    "CONSTRAINT_LIST_KEY",
    "LAST_RUN_ATTR",
    "ORPHANED",
    "SPEC_ATTR",
    "INTERRUPTED",
    "ask_trial",
    "budget_used",
    "constraint_attrs",
    "counted_trials",
    "named_constraints",
    "trials_to_ask",
    "open_study",
    "pareto_trials",
    "recover_orphans",
    "set_constraints",
    "stored_spec",
    "study_hypervolume",
    "record_points",
    "trial_config",
]

ORPHANED = "orphaned: left RUNNING by a run that stopped"
INTERRUPTED = "interrupted"
_RETRIABLE = (ORPHANED, INTERRUPTED)


def open_study(
    problem: Problem, storage: optuna.storages.BaseStorage, sampler: optuna.samplers.BaseSampler
) -> optuna.Study:
    """Create the study, or load it when it exists (checking its objectives match)."""
    spec = problem.spec
    directions = problem.directions
    keys = problem.objective_keys
    existing = {s.study_name: s for s in storage.get_all_studies()}
    if spec.name not in existing:
        try:
            study = optuna.create_study(
                study_name=spec.name, storage=storage, sampler=sampler,
                directions=directions,  # type: ignore[arg-type]
            )
        except optuna.exceptions.DuplicatedStudyError:
            # Another driver created it between our look and our create: load theirs.
            existing = {s.study_name: s for s in storage.get_all_studies()}
        else:
            _describe(study, problem)
    if spec.name in existing:
        summary = existing[spec.name]
        declared = summary.user_attrs.get("dse.objectives")
        stored_keys = [o["metric"] for o in declared] if declared else None
        stored_dirs = [d.name.lower() for d in summary.directions]
        if (stored_keys is not None and stored_keys != keys) or stored_dirs != directions:
            raise SpecError(
                f"{spec.path}: study {spec.name!r} already exists with objectives "
                f"{stored_keys or stored_dirs}; this file asks for {keys} ({directions}); "
                "rename the study or use another --storage"
            )
        study = optuna.load_study(study_name=spec.name, storage=storage, sampler=sampler)
    if INPUTS_ATTR not in study.user_attrs:  # studies written before it was stored get it too
        study.set_user_attr(INPUTS_ATTR, InputMap.of_problem(problem).as_dict())
    if "dse.units" not in study.user_attrs:  # every model output's unit, for tables and plots
        study.set_user_attr("dse.units", dict(problem.pipeline.produced))
    study.set_user_attr(LAST_RUN_ATTR, _run_record(spec))
    return study


#: The study system attr holding the whole study file as it was parsed (kept out of the user
#: attrs, which ``optuna studies`` prints in full).
SPEC_ATTR = "dse.spec"
#: What the latest run actually ran with: budget, executor, workers, seed (CLI overrides in).
LAST_RUN_ATTR = "dse.last_run"


def _spec_digest(raw: Mapping[str, Any]) -> str:
    blob = json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _store_spec(study: optuna.Study, storage: optuna.storages.BaseStorage,
                spec: Any) -> None:
    """The full spec as a study system attr; a short form (digest, file, study table) as the
    user attr, so ``optuna studies`` stays readable."""
    raw = dict(spec.raw)
    storage.set_study_system_attr(storage.get_study_id_from_name(study.study_name),
                                  SPEC_ATTR, raw)
    short = {"digest": _spec_digest(raw), "file": str(spec.path),
             "study": {k: v for k, v in dict(raw.get("study", {})).items()
                       if k in ("name", "mode", "seed", "description")}}
    study.set_user_attr(SPEC_ATTR, short)


def stored_spec(storage: optuna.storages.BaseStorage, study_name: str) -> dict[str, Any]:
    """The study file a study was created from (older studies kept it as a user attr)."""
    study_id = storage.get_study_id_from_name(study_name)
    full = storage.get_study_system_attrs(study_id).get(SPEC_ATTR)
    if isinstance(full, dict):
        return full
    legacy = storage.get_study_user_attrs(study_id).get(SPEC_ATTR)
    return legacy if isinstance(legacy, dict) and "digest" not in legacy else {}


def _run_record(spec: Any) -> dict[str, Any]:
    ex = spec.executor
    return {
        "started": time.time(),
        "n_trials": spec.budget.n_trials,
        "timeout_s": spec.budget.timeout_s,
        "executor": ex.kind,
        "workers": ex.workers,
        "ray_address": ex.ray_address,
        "seed": spec.seed,
        "sampler": spec.sampler.name,
        "spec_digest": _spec_digest(dict(spec.raw)),
    }


def _describe(study: optuna.Study, problem: Problem) -> None:
    """Store the study's own description on a study just created."""
    spec = problem.spec
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(problem.objective_keys)
    _store_spec(study, study._storage, spec)
    study.set_user_attr("dse.mode", spec.mode)
    study.set_user_attr(
        "dse.objectives",
        [{"metric": o.key, "direction": o.direction, "unit": o.unit}
         for o in problem.objectives],
    )
    study.set_user_attr(
        "dse.models",
        [{"namespace": ns, "model": m.name, "source": s.model, "version": m.version,
          "options": dict(s.options), "bind": dict(s.bind)}
         for (ns, m), s in zip(problem.models.items(), problem.spec.models)],
    )
    study.set_user_attr("dse.constraints", list(problem.constraint_keys))
    study.set_user_attr(
        "dse.fixed",
        {p.name: stored(p.default) for p in problem.space.params if isinstance(p, Fixed)},
    )


def _reason(t: FrozenTrial) -> str:
    return str(t.user_attrs.get("dse.fail_reason", ""))


def budget_used(study: optuna.Study, mode: str) -> int:
    """Finished trials counting against ``[budget] n_trials`` in ``mode`` (trial or nested).

    Nested mode counts its outer proposals only (inner front points are recorded, not
    proposed); retried failures (interrupted, orphaned) never count.
    """
    if mode != "nested":
        return counted_trials(study)
    return sum(1 for t in study.get_trials(deepcopy=False)
               if t.user_attrs.get("dse.mode") == "nested-outer"
               and t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
               and not _reason(t).startswith(_RETRIABLE))


def counted_trials(study: optuna.Study) -> int:
    """Finished trials that count against the budget (retried failures do not)."""
    n = 0
    for t in study.get_trials(deepcopy=False):
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
            n += 1
        elif t.state == TrialState.FAIL and not _reason(t).startswith(_RETRIABLE):
            n += 1
    return n


def recover_orphans(study: optuna.Study, run: RunRegistration) -> int:
    """Fail trials left RUNNING by dead runs and enqueue each failed point once more.

    A RUNNING trial tagged ``dse.run`` belongs to the run of that tag: it is orphaned when that
    run is not alive (:mod:`dse._runs`), whatever other drivers do. An untagged RUNNING trial
    (written before trials were tagged) is orphaned when no other registered run is alive.
    Runs on other hosts cannot be checked, so their trials are left alone.

    Returns:
        The number of points enqueued for retry.
    """
    live = run.live_tags()
    others_alive = bool(live - {run.tag})
    storage = study._storage
    trials = study.get_trials(deepcopy=False)
    orphans = [t for t in trials if t.state == TrialState.RUNNING
               and (t.system_attrs.get(RUN_ATTR) not in live if RUN_ATTR in t.system_attrs
                    else not others_alive)]
    for t in orphans:
        storage.set_trial_user_attr(t._trial_id, "dse.fail_reason", ORPHANED)
        storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
    if orphans:
        trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("dse.retry_of") for t in trials}
    queued = 0
    for t in trials:
        if (t.state == TrialState.FAIL and _reason(t).startswith(_RETRIABLE)
                and t.number not in retried and "dse.retry_of" not in t.user_attrs):
            study.enqueue_trial(dict(t.params), user_attrs={"dse.retry_of": t.number})
            queued += 1
    return queued


def ask_trial(study: optuna.Study, run: RunRegistration) -> optuna.Trial:
    """``study.ask()``, the trial tagged with the run that asked it (for orphan recovery)."""
    trial = study.ask()
    study._storage.set_trial_system_attr(trial._trial_id, RUN_ATTR, run.tag)
    return trial


def trials_to_ask(study: optuna.Study, run: RunRegistration, n_trials: int, local: int,
                  mode: str = "trial") -> int:
    """How many more trials this run may ask against the study's total budget ``n_trials``.

    ``local`` is what is left of the budget counted at start, minus what this run asked. With
    other live drivers on the study, the study is recounted first: finished trials that count
    in ``mode`` (:func:`budget_used`: nested mode counts its outer proposals) plus every
    RUNNING trial of any driver (in nested mode only proposals run; inner points are recorded
    finished). Drivers that recount at the same moment can still both ask, so the budget is
    overshot by at most the trials asked in that moment (the other drivers' in-flight
    batches, or proposals in nested mode).
    """
    if local <= 0 or not (run.others_alive() or run.shared):
        return local  # alone since the start: the count at start plus our own asks is exact
    running = study._storage.get_n_trials(study._study_id, state=TrialState.RUNNING)
    return min(local, n_trials - budget_used(study, mode) - running)


def _distributions(problem: Problem) -> dict[str, BaseDistribution]:
    return {p.name: distribution(p) for p in problem.space.params if not isinstance(p, Fixed)}


RECORD_BATCH = 64  # trials written between two checks of a claim


def record_points(
    study: optuna.Study,
    problem: Problem,
    cols: Mapping[str, np.ndarray],
    mode: str,
    extra_attrs: Mapping[str, Any] | None = None,
    keys: Sequence[str] | None = None,
    guard: Callable[[], None] | None = None,
) -> int:
    """Write evaluated points (a column dict with ``__F``/``__G``) as COMPLETE trials.

    ``keys``, when given, are stored per point as ``dse.sweep_key`` (idempotent recording).
    ``guard``, when given, is called before each batch of :data:`RECORD_BATCH` trials and
    raises to stop the recording (a sweep claim taken over).
    """
    if not cols or "__F" not in cols:
        return 0
    n = len(cols["__F"])
    if n == 0:
        return 0
    dists = _distributions(problem)
    objective_keys = set(problem.objective_keys)
    metric_keys = [k for k in problem.pipeline.produced if k not in objective_keys]
    values = np.asarray(cols["__F"]) * np.asarray([o.sign for o in problem.objectives])
    G = np.asarray(cols["__G"])
    flat = {k: v for k, v in cols.items() if not k.startswith("__")}
    active = {name: problem.space.active_mask(flat, name) for name in dists if name in cols}
    trials = []
    for i in range(n):
        params = {name: stored(cols[name][i]) for name in active if active[name][i]}
        user_attrs: dict[str, Any] = {
            "metrics": {k: stored(float(cols[k][i])) for k in metric_keys if k in cols},
            "dse.mode": mode,
        }
        if extra_attrs:
            user_attrs.update(extra_attrs)
        if keys is not None:
            user_attrs["dse.sweep_key"] = keys[i]
        system_attrs = constraint_attrs(problem.constraint_keys, G[i])
        trials.append(
            optuna.trial.create_trial(
                params=params,
                distributions={k: dists[k] for k in params},
                values=[float(v) for v in values[i]],
                user_attrs=user_attrs,
                system_attrs=system_attrs,
                state=TrialState.COMPLETE,
            )
        )
    for i in range(0, n, RECORD_BATCH):
        if guard is not None:
            guard()  # a recording can outlast a lease: fence each batch of trials
        try:
            study.add_trials(trials[i:i + RECORD_BATCH])
        except ValueError as exc:
            raise DseError(f"cannot record sweep points into study {study.study_name!r}: "
                           f"{exc}") from None
    return n


#: optuna-dashboard reads a trial's constraints only from this list-valued system attr (Optuna's
#: old format); Optuna itself reads the named ``constraints:<name>`` attrs. dse writes both.
CONSTRAINT_LIST_KEY = "constraints"


def constraint_attrs(keys: list[str], values: np.ndarray) -> dict[str, Any]:
    """System attrs holding one trial's constraint values in both of Optuna's formats."""
    vals = [float(v) for v in values]
    attrs: dict[str, Any] = {f"constraints:{k}": v for k, v in zip(keys, vals)}
    if vals:
        attrs[CONSTRAINT_LIST_KEY] = vals
    return attrs


def set_constraints(trial: optuna.Trial, keys: list[str], values: np.ndarray) -> None:
    """Set a running trial's constraints by name and as the list optuna-dashboard reads."""
    for key, value in zip(keys, values):
        trial.set_constraint(key, float(value))
    if len(keys):
        # No public setter for a trial's system attrs exists; this is the one private use.
        trial.storage.set_trial_system_attr(trial._trial_id, CONSTRAINT_LIST_KEY,
                                            [float(v) for v in values])


def named_constraints(t: FrozenTrial) -> dict[str, float]:
    """A trial's constraint values by name, without the positional copies of the list form
    (a study written by another tool with only the list keeps Optuna's ``"0"``, ``"1"`` ...)."""
    named = {k[len("constraints:"):]: float(v) for k, v in t.system_attrs.items()
             if k.startswith("constraints:")}
    return named or {str(k): float(v) for k, v in (t.constraints or {}).items()}


def _feasible_complete(study: optuna.Study) -> tuple[list[FrozenTrial], np.ndarray]:
    """The feasible COMPLETE trials and their minimisation-oriented values ``(n, m)``."""
    trials = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
              if t.values is not None and all(v <= 0 for v in t.constraints.values())]
    signs = np.asarray([1.0 if d == optuna.study.StudyDirection.MINIMIZE else -1.0
                        for d in study.directions])
    F = np.asarray([t.values for t in trials], dtype=np.float64).reshape(-1, len(signs))
    return trials, F * signs


def pareto_trials(study: optuna.Study) -> list[FrozenTrial]:
    """The feasible Pareto front of the COMPLETE trials, as ``study.best_trials`` gives it,
    with each design once (trials with equal configurations, see :func:`trial_config`).

    Computed with the vectorized filter on uncopied trials: ``best_trials`` deep-copies every
    trial, which dominated a 10,000-trial report (4.7 of 8.6 s, measured).
    """
    trials, F = _feasible_complete(study)
    if not trials:
        return []
    fixed = study.user_attrs.get("dse.fixed", {})
    front, seen = [], set()
    for i in np.flatnonzero(pareto_mask(F)):
        # One trial per design: a nested proposal drawn twice (the dense recipe, whose N:M is
        # inactive and so not drawn) records the same design again; ties of distinct designs
        # all stay.
        key = json.dumps(trial_config(trials[i], fixed), sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            front.append(trials[i])
    return front


def study_hypervolume(
    study: optuna.Study,
) -> tuple[float | None, Reference | None, list[FrozenTrial]]:
    """The study's hypervolume under its reference, the reference, and its Pareto trials.

    The one computation ``dse status``, the run summary and the export share; the report and
    the live dashboard use the same :func:`~dse._hypervolume.study_reference`.
    """
    front = pareto_trials(study)
    dirs = [d.name.lower() for d in study.directions]
    if len(dirs) < 2:
        return None, None, front
    # A provisional reference (none stored yet) comes from every feasible result, as the
    # dashboards' does, so both show the same number.
    _, feasible = _feasible_complete(study)
    ref = study_reference(study.user_attrs, dirs, feasible)
    return (None if ref is None else ref.hypervolume(feasible)), ref, front


def trial_config(trial: FrozenTrial, fixed: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The flat point of a trial: pinned params, its params and its inner (nested) params.

    Each model's inputs for it (binds and defaults applied) are :func:`dse.model_inputs`.
    """
    config = dict(fixed or {})
    config.update(trial.params)
    config.update(trial.user_attrs.get("dse.inner_params", {}))
    return config
