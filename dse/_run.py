"""Running a study: trial, sweep and nested modes over one result format.

* **trial**: one Optuna trial per design point. The driver asks ``batch_size`` trials at a time,
  suggests define-by-run, ships the batch to the executor and tells results as they return,
  keeping ``workers`` batches in flight.
* **sweep**: :func:`dse._sweep.run_sweep` over the whole space; the front and a sample are
  written to the study as completed trials.
* **nested**: Optuna proposes the ``[nested] outer`` parameters; for each proposal a sweep
  optimizes the others. The proposal's trial is told the values of the inner front's knee (the
  point nearest the ideal after normalization), and the rest of the inner front is added as
  completed trials, so the study's Pareto set spans both levels.

Every mode leaves completed trials in the same shape, so dashboards and export do not care.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from costmodels import ModelError
from dse._artifacts import artifacts_dir
from dse._claim import StudyClaim
from dse._errors import DseError, SpecError
from dse._evaluate import BatchOutcome
from dse._evolution import planned_evaluations
from dse._executors import Done, Executor, Job, SerialExecutor, ensure_ray, make_executor
from dse._hypervolume import REFERENCE_ATTR, ReferenceKeeper
from dse._optuna_bridge import make_sampler, suggest, suggest_order
from dse._problem import Evaluation, Problem
from dse._progress import Progress
from dse._pruning import PrunerSpec, make_pruner
from dse._runs import RunRegistration, register_run
from dse._spec import StudySpec, SweepSpec
from dse._storage import describe_storage, open_storage
from dse._study import (
    INTERRUPTED,
    ask_trial,
    budget_used,
    counted_trials,
    open_study,
    record_points,
    recover_orphans,
    set_constraints,
    study_hypervolume,
    trials_to_ask,
)
from dse._sweep import (
    SweepResult,
    crowding_distance,
    files_bytes,
    finish_sweep,
    run_sweep,
    sweep_files,
)
from dse._values import stored
from search_spaces import Fixed, Space


__all__ = ["RunSummary", "artifacts_dir", "run_study"]


@dataclass
class RunSummary:
    """What a run did."""

    study_name: str
    storage: str
    mode: str
    n_finished: int
    n_new: int
    seconds: float
    n_complete: int = 0
    n_failed: int = 0
    n_pruned: int = 0
    retried: int = 0
    sweep: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False
    #: Normalised hypervolume of the study's front under its reference, and how it was fixed.
    hypervolume: float | None = None
    hypervolume_reference: str | None = None
    #: The study file's known true hypervolume (when it declares one) and the fraction reached.
    true_hypervolume: float | None = None
    true_hypervolume_fraction: float | None = None
    # Why this run's failed trials failed: reason -> count.
    fail_reasons: dict[str, int] = field(default_factory=dict)
    # A sweep's whole feasible front as columns (params, metrics, __F, __G); the study holds
    # at most max_front_trials of it. Empty when this run swept nothing.
    front_columns: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def all_failed(self) -> bool:
        """Every trial this run finished failed (a run that finished none is not failed)."""
        return self.n_new > 0 and self.n_failed == self.n_new

    def failure_summary(self, limit: int = 3) -> str:
        """The most common failure reasons in one line, with counts."""
        top = sorted(self.fail_reasons.items(), key=lambda kv: -kv[1])[:limit]
        more = len(self.fail_reasons) - len(top)
        text = "; ".join(f"{n} x {reason}" for reason, n in top)
        return text + (f"; and {more} other reason(s)" if more > 0 else "")

    def note_failure(self, reason: str) -> None:
        self.fail_reasons[reason] = self.fail_reasons.get(reason, 0) + 1


def sweep_fingerprint(spec: StudySpec, problem: Problem) -> str:
    """What a sweep's result depends on: models (versions, options, binds), space, objectives,
    constraints, ``[sweep]`` and seed; not the description, sampler, budget or executor."""
    raw = {
        "models": [[m.namespace, m.model, problem.models[m.namespace].version, m.options, m.bind]
                   for m in spec.models],
        "domains": spec.domains, "shared": spec.shared, "overrides": spec.overrides,
        "objectives": [[o.key, o.direction] for o in problem.objectives],
        "bounds": [[b.metric, b.min, b.max] for b in spec.bounds],
        "sweep": asdict(spec.sweep), "seed": spec.seed,
    }
    text = json.dumps(raw, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _pruner_spec(problem: Problem, spec: StudySpec) -> PrunerSpec:
    """The pruning rule: the study's ``[pruner]`` table, else median for expensive models."""
    table = spec.pruner
    expensive = any(m.expensive for m in problem.models.values())
    name = table.name or ("median" if expensive else "none")
    if name == "none":
        return PrunerSpec("none")
    direction = table.direction or problem.objectives[0].direction
    return PrunerSpec("median", table.metric, direction, table.n_startup_trials,
                      table.n_warmup_steps)


def run_study(
    spec: StudySpec,
    *,
    quiet: bool = True,
    cache_dir: str | Path | None = None,
    storage: optuna.storages.BaseStorage | None = None,
    files: Path | None = None,
) -> RunSummary:
    """Launch or resume the study described by ``spec``.

    Everything is validated before anything is written: a bad model, parameter, override,
    sampler or storage raises a :class:`~dse.DseError` and leaves the storage untouched.

    Args:
        spec: the study.
        quiet: no progress display.
        cache_dir: the models' disk cache.
        storage: an already open storage (default: ``spec.storage`` opened).
        files: where the study's files go (default: beside the storage, see
            :func:`artifacts_dir`).
    """
    problem = Problem(spec, cache_dir=cache_dir)
    for ns, model in problem.models.items():
        try:
            model.check_runtime()  # e.g. torch for a proxy training: named with its install
        except ModelError as exc:
            raise SpecError(f"{spec.path}: models.{ns}: {exc}") from None
    sampler = make_sampler(spec.sampler, spec.seed, problem.space, len(problem.objectives))
    if spec.executor.kind == "ray":
        # before the storage: an unreachable cluster is one line and nothing written
        ensure_ray(spec.executor.workers, spec.executor.ray_address)
    if storage is None:
        storage = open_storage(spec.storage)
    study = open_study(problem, storage, sampler)
    # A resumed or concurrent run seeds its sampler from the study seed and its own nonce, so
    # it never replays another run's stream (dse/_runs.py).
    run = register_run(study, spec.seed)
    if run.seed != spec.seed:
        study.sampler = make_sampler(spec.sampler, run.seed, problem.space,
                                     len(problem.objectives))
    t0 = time.perf_counter()
    files = files if files is not None else artifacts_dir(spec.storage, spec.name)
    try:
        if spec.mode == "sweep":
            summary = _run_sweep_mode(spec, problem, study, files, quiet, cache_dir, run)
        elif spec.mode == "nested":
            summary = _run_nested(spec, problem, study, quiet, cache_dir, run)
        else:
            summary = _run_trials(spec, problem, study, quiet, cache_dir, run)
    finally:
        run.remove()
    summary.seconds = time.perf_counter() - t0
    summary.storage = describe_storage(spec.storage)
    _summarize_hypervolume(summary, study, spec)
    return summary


def _progress(
    study: optuna.Study, problem: Problem, total: int | None, quiet: bool, unit: str = "trials"
) -> Progress:
    """The run's progress display, holding the study's reference keeper (fixed once, stored)."""
    bounds = [o.bounds for o in problem.spec.objectives]
    signs = np.asarray([o.sign for o in problem.objectives])
    existing = None
    if REFERENCE_ATTR not in study.user_attrs:
        done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if t.values is not None and all(v <= 0 for v in t.constraints.values())]
        existing = np.asarray([t.values for t in done], dtype=float).reshape(-1, len(signs))
        existing = existing * signs
    keeper = ReferenceKeeper(
        study, problem.directions,
        bounds=bounds if all(b is not None for b in bounds) else None,  # type: ignore[arg-type]
        existing=existing,
    )
    return Progress(total, problem.objective_keys, list(signs), quiet, unit=unit,
                    reference=keeper)


def _summarize_hypervolume(summary: RunSummary, study: optuna.Study, spec: StudySpec) -> None:
    hv, ref, _ = study_hypervolume(study)
    if hv is None or ref is None:
        return
    summary.hypervolume = hv
    summary.hypervolume_reference = ("fixed: " if ref.fixed else "") + ref.source
    # A known true hypervolume is stated under the study file's bounds only.
    if spec.true_hypervolume and ref.fixed and ref.source == "study file bounds":
        summary.true_hypervolume = spec.true_hypervolume
        summary.true_hypervolume_fraction = hv / spec.true_hypervolume


# -- trial mode ---------------------------------------------------------------------------------
def _batch_of(points: list[dict[str, Any]], space: Space) -> dict[str, np.ndarray]:
    return {p.name: np.asarray([pt[p.name] for pt in points], dtype=p.dtype)
            for p in space.params}


def _tell(
    study: optuna.Study, problem: Problem, trial: optuna.Trial, outcome: BatchOutcome, i: int,
    curve: list[tuple[int, float]],
) -> TrialState:
    if curve:
        trial.set_user_attr("dse.curve", [[s, stored(v)] for s, v in curve])
    if outcome.pruned[i]:
        study.tell(trial, state=TrialState.PRUNED)
        return TrialState.PRUNED
    error = outcome.errors[i]
    if error is not None or outcome.values is None or outcome.G is None:
        trial.set_user_attr("dse.fail_reason", error or "no result")
        study.tell(trial, state=TrialState.FAIL)
        return TrialState.FAIL
    objective_keys = set(problem.objective_keys)
    trial.set_user_attr(
        "metrics", {k: stored(v[i]) for k, v in outcome.metrics.items() if k not in objective_keys}
    )
    set_constraints(trial, problem.constraint_keys, outcome.G[i])
    if not np.isfinite(outcome.values[i]).all():
        violated = [f"{k} = {outcome.G[i, j]:.4g}" for j, k in enumerate(problem.constraint_keys)
                    if outcome.G[i, j] > 0]
        trial.set_user_attr("dse.note", "infeasible, not evaluated: " + ", ".join(violated))
    study.tell(trial, [float(v) for v in outcome.values[i]])
    return TrialState.COMPLETE


def _fail_interrupted(study: optuna.Study, trials: list[optuna.Trial]) -> None:
    """Fail in-flight trials on Ctrl-C; the next run retries their points once."""
    for trial in trials:
        trial.set_user_attr("dse.fail_reason", INTERRUPTED)
        study.tell(trial, state=TrialState.FAIL)


@dataclass
class _Job:
    """Trials in flight as one executor job, and what telling them needs."""

    trials: list[optuna.Trial] = field(default_factory=list)
    kind: str = ""
    payload: Any = None
    extra: Any = None


def _drive(
    study: optuna.Study,
    executor: Executor,
    budget: int,
    deadline: float | None,
    ask: Any,
    tell: Any,
) -> bool:
    """The ask/submit/poll/tell loop of trial and nested mode; returns whether interrupted.

    ``ask(room, job)`` asks at most ``room`` trials into ``job.trials`` (registered with the
    driver before any parameter is drawn, so a Ctrl-C at any point fails them cleanly), sets
    ``job.kind``/``payload``/``extra`` and returns False when nothing may be asked now.
    ``tell(job, done)`` tells a finished job (a :class:`~dse._executors.Done`). Up to
    ``executor.capacity`` jobs are in flight; the serial executor finishes a job on submit,
    so it is told before the next is asked.
    """
    pending: dict[int, _Job] = {}
    asked = 0
    number = 0
    try:
        while True:
            timed_out = deadline is not None and time.monotonic() > deadline
            while not timed_out and len(pending) < executor.capacity and asked < budget:
                job = pending[number] = _Job()
                if not ask(budget - asked, job):
                    del pending[number]
                    break
                asked += len(job.trials)
                executor.submit(Job(number, job.kind, job.payload,
                                    tuple(t.number for t in job.trials)))
                number += 1
                if isinstance(executor, SerialExecutor):
                    break
            if not pending:
                break
            for done in executor.poll(timeout=0.05):
                tell(pending.pop(done.job), done)
    except KeyboardInterrupt:
        executor.cancel()
        _fail_interrupted(study, [t for job in pending.values() for t in job.trials])
        return True
    finally:
        executor.close()
    return False


def _run_trials(
    spec: StudySpec, problem: Problem, study: optuna.Study, quiet: bool,
    cache_dir: str | Path | None, run: RunRegistration,
) -> RunSummary:
    retried = recover_orphans(study, run)
    done_before = counted_trials(study)
    budget = spec.budget.n_trials - done_before
    summary = RunSummary(spec.name, "", "trial", done_before, 0, 0.0, retried=retried)
    if budget <= 0:
        return summary
    pruner = make_pruner(_pruner_spec(problem, spec))
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        curve = t.user_attrs.get("dse.curve")
        if curve:
            pruner.add_history([(int(s), float(v)) for s, v in curve if v is not None])
    executor = make_executor(spec, problem, pruner,
                             str(cache_dir) if cache_dir is not None else None)
    progress = _progress(study, problem, spec.budget.n_trials, quiet)
    progress.resume_from(done_before)
    order = suggest_order(problem.space)
    signs = np.asarray([o.sign for o in problem.objectives])
    deadline = time.monotonic() + spec.budget.timeout_s if spec.budget.timeout_s else None
    def ask(room: int, job: _Job) -> bool:
        k = min(spec.executor.batch_size,
                trials_to_ask(study, run, spec.budget.n_trials, room))
        if k <= 0:
            return False  # other drivers have the rest of the budget in flight
        for _ in range(k):
            job.trials.append(ask_trial(study, run))
        points = [suggest(t, problem.space, order) for t in job.trials]
        job.kind, job.payload = "batch", _batch_of(points, problem.space)
        return True

    def tell(job: _Job, done: Done) -> None:
        n = len(job.trials)
        outcome = done.value if done.failure is None else BatchOutcome(
            n, errors=[done.failure] * n, pruned=[False] * n)
        for i, trial in enumerate(job.trials):
            curve = pruner.finish(trial.number)
            state = _tell(study, problem, trial, outcome, i, curve)
            if state == TrialState.FAIL:
                summary.note_failure(outcome.errors[i] or "no result")
            if state == TrialState.COMPLETE and curve:
                pruner.add_history(curve)
            summary.n_complete += state == TrialState.COMPLETE
            summary.n_failed += state == TrialState.FAIL
            summary.n_pruned += state == TrialState.PRUNED
            summary.n_new += 1
        if outcome.values is not None:
            feas = np.asarray([e is None and not p
                               for e, p in zip(outcome.errors, outcome.pruned)])
            if outcome.G is not None and outcome.G.shape[1]:
                feas &= (np.nan_to_num(outcome.G, nan=1.0) <= 0).all(axis=1)
            progress.add(outcome.values * signs, feas, outcome.n)
        else:
            progress.tick(outcome.n)

    try:
        summary.interrupted = _drive(study, executor, budget, deadline, ask, tell)
    finally:
        progress.close()
    summary.n_finished = counted_trials(study)
    _stop_if_lost(executor, summary.n_failed)
    return summary


def _stop_if_lost(executor: Executor, n_failed: int) -> None:
    """One line and a non-zero exit when the executor lost every worker mid-run."""
    if executor.lost is not None:
        raise DseError(f"no Ray worker left ({executor.lost}); {n_failed} trial(s) failed, "
                       "their points are retried when the same command runs again")


# -- sweep mode ---------------------------------------------------------------------------------
SWEEP_HISTORY_ROWS = 256  # rows kept in the sweep summary's per-chunk history
SWEEP_HISTORY_HV_POINTS = 2000  # 4+ objectives: no per-chunk hypervolume above this front size


def _sweep_progress(
    study: optuna.Study, problem: Problem, total: int | None, quiet: bool,
    done_of: Any = None,
) -> tuple[Progress, Any]:
    """The sweep's progress display and its per-chunk hook, which extends the sweep's history.

    The history (points evaluated, front size, normalised hypervolume under the study's fixed
    reference, after each chunk or generation) is what the report plots for a sweep instead of
    trial-order curves. It lives in the sweep's state (``state.history``), so it is
    checkpointed with each chunk and a resumed sweep continues it. It stays compact: past
    ``SWEEP_HISTORY_ROWS`` rows every other row is dropped (the last one is always kept), so a
    long sweep keeps a log-spaced outline.
    """
    progress = _progress(study, problem, total, quiet, unit="points")

    def hook(state: Any) -> None:
        front = np.asarray(state.front.F, dtype=np.float64)
        progress.set_front(front, done_of(state) if done_of else state.evaluated)
        hv = None
        if len(front) and (front.shape[1] <= 3 or len(front) <= SWEEP_HISTORY_HV_POINTS):
            hv = progress.reference.hypervolume(front) if progress.reference else None
        history = state.history
        for column in ("evaluated", "front", "hypervolume"):
            history.setdefault(column, [])
        history["evaluated"].append(int(state.evaluated))
        history["front"].append(len(front))
        history["hypervolume"].append(None if hv is None else round(float(hv), 6))
        if len(history["evaluated"]) > SWEEP_HISTORY_ROWS:
            for rows in history.values():
                rows[:] = rows[:-1:2] + rows[-1:]  # keeps the first and the last

    return progress, hook


def _thin(front: dict[str, np.ndarray], k: int) -> dict[str, np.ndarray]:
    """At most ``k`` front points, keeping the extremes and the least crowded."""
    if not front or len(front["__F"]) <= k:
        return front
    keep = np.argsort(-crowding_distance(front["__F"]), kind="stable")[:k]
    keep.sort()
    return {c: v[keep] for c, v in front.items()}


def _record_sweep(
    study: optuna.Study, problem: Problem, result: SweepResult, mode: str, max_front: int,
    fingerprint: str, guard: Callable[[], None] | None = None,
) -> int:
    """Record a sweep's front (every tie) and sample as trials, each point at most once.

    ``guard`` is passed on to :func:`record_points`, which calls it before every batch of
    trials it writes (it raises to stop the recording).

    Each trial carries ``dse.sweep_key`` (the sweep's fingerprint and the point's row), and
    points whose key the study already holds are skipped, so a run killed while recording
    records the rest when re-run, never a point twice.
    """
    recorded = {t.user_attrs.get("dse.sweep_key") for t in study.get_trials(deepcopy=False)}

    def new(cols: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], list[str]]:
        if not cols or not len(cols["__F"]):
            return {}, []
        keys = [f"{fingerprint}:{r}" for r in cols["__row"].tolist()]
        fresh = np.asarray([k not in recorded for k in keys], dtype=bool)
        return {c: v[fresh] for c, v in cols.items()}, [k for k in keys if k not in recorded]

    front, keys = new(_thin(result.front, max_front))
    n = record_points(study, problem, front, mode, {"dse.pareto": True}, keys, guard)
    sample = result.sample
    if sample and result.front and len(sample["__F"]):
        # "The rest" means off the front: the front holds every tie, so drop its rows.
        sample = {c: v[~np.isin(sample["__row"], result.front["__row"])]
                  for c, v in sample.items()}
    sample, keys = new(sample)
    n += record_points(study, problem, sample, mode, {"dse.pareto": False}, keys, guard)
    return n


def _executor_chunks(executor: Any) -> Any:
    """A chunk evaluator spreading sweep chunks over an executor's workers, yielding in order."""

    def run(ranges: Any) -> Any:
        ranges = iter(ranges)
        results: dict[int, Any] = {}
        submitted = 0
        next_out = 0
        exhausted = False
        while True:
            while not exhausted and executor.in_flight < executor.capacity:
                r = next(ranges, None)
                if r is None:
                    exhausted = True
                    break
                executor.submit(Job(submitted, "chunk", r))
                submitted += 1
            if next_out == submitted and exhausted:
                return
            for done in executor.poll(timeout=0.05):
                if done.failure is not None:
                    raise DseError(f"sweep chunk {done.job} failed: {done.failure}")
                results[done.job] = done.value
            while next_out in results:
                yield results.pop(next_out)
                next_out += 1

    return run


def _executor_population(executor: Any) -> Any:
    """A population evaluator splitting each generation over an executor's workers."""

    def run(batch: dict[str, np.ndarray]) -> Any:
        n = len(next(iter(batch.values())))
        bounds = np.linspace(0, n, executor.capacity + 1).astype(int)
        parts = [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
        for job, (a, b) in enumerate(parts):
            executor.submit(Job(job, "points", {k: v[a:b] for k, v in batch.items()}))
        results: dict[int, Any] = {}
        while len(results) < len(parts):
            for done in executor.poll(timeout=0.05):
                if done.failure is not None:
                    raise DseError(f"evolutionary sweep: a worker failed: {done.failure}")
                results[done.job] = done.value
        return Evaluation.concat([results[j] for j in range(len(parts))])

    return run


def _check_sweep_state(spec: StudySpec, study: optuna.Study, fingerprint: str) -> None:
    """Refuse to mix sweeps: a study holding another sweep's trials is never swept into again.

    A study whose sweep recorded nothing yet (killed or stopped before recording) sweeps anew
    under the new fingerprint; its old checkpoint no longer matches and is not used.
    """
    swept_as = study.user_attrs.get("dse.sweep_fingerprint")
    if swept_as == fingerprint:
        return
    if swept_as is not None and study.get_trials(deepcopy=False):
        raise DseError(
            f"{spec.path}: study {spec.name!r} holds the trials of a sweep with other models, "
            "options, space, objectives, constraints, [sweep] settings or seed; run this file "
            "under a new --name or with another --storage"
        )
    study.set_user_attr("dse.sweep_fingerprint", fingerprint)


def _recorded_sweep(study: optuna.Study, summary: RunSummary) -> RunSummary:
    """The summary of a sweep the study has recorded already (this run evaluates nothing)."""
    summary.n_finished = len(study.get_trials(deepcopy=False))
    summary.sweep = dict(study.user_attrs.get("dse.sweep_summary", {}))
    return summary


def _claim_sweep(spec: StudySpec, study: optuna.Study, run: RunRegistration) -> StudyClaim:
    """Hold the study's sweep claim, waiting (one line on stderr) while another driver does."""
    claim = StudyClaim(study, "sweep", run.nonce)

    def waiting(holder: dict[str, Any]) -> None:
        print(f"dse: study {spec.name!r} is being swept by another driver "
              f"({holder.get('host')}:{holder.get('pid')}); waiting for it to finish "
              "(Ctrl-C to stop)", file=sys.stderr, flush=True)

    claim.acquire(on_wait=waiting)
    return claim


def _run_sweep_mode(
    spec: StudySpec, problem: Problem, study: optuna.Study, files: Path, quiet: bool,
    cache_dir: str | Path | None, run: RunRegistration,
) -> RunSummary:
    """Sweep under the study's claim: one driver sweeps and records, any other waits for it
    and then reports the recorded result (or takes over from a holder that died)."""
    summary = RunSummary(spec.name, "", "sweep", 0, 0, 0.0)
    fingerprint = sweep_fingerprint(spec, problem)
    if study.user_attrs.get("dse.sweep_complete"):
        if study.user_attrs.get("dse.sweep_fingerprint", fingerprint) != fingerprint:
            _check_sweep_state(spec, study, fingerprint)  # raises: it holds that sweep's trials
        return _recorded_sweep(study, summary)
    try:
        claim = _claim_sweep(spec, study, run)
    except KeyboardInterrupt:
        summary.interrupted = True
        return summary
    with claim:
        if study.user_attrs.get("dse.sweep_complete"):  # recorded while this run waited
            if study.user_attrs.get("dse.sweep_fingerprint", fingerprint) != fingerprint:
                _check_sweep_state(spec, study, fingerprint)
            return _recorded_sweep(study, summary)
        return _sweep_claimed(spec, problem, study, files, quiet, cache_dir, summary,
                              fingerprint, claim.check)


def _sweep_claimed(
    spec: StudySpec, problem: Problem, study: optuna.Study, files: Path, quiet: bool,
    cache_dir: str | Path | None, summary: RunSummary, fingerprint: str,
    guard: Callable[[], None],
) -> RunSummary:
    """Sweep and record; ``guard`` raises before any write once the claim was taken over."""
    _check_sweep_state(spec, study, fingerprint)
    total = problem.space.size if spec.sweep.method == "exhaustive" else \
        planned_evaluations(spec.sweep, problem.space.size)
    done_of = None
    if spec.sweep.method == "exhaustive" and total:
        # The bar counts the space's points enumerated (its total), not the distinct designs
        # among them, which is all an exhaustive sweep evaluates (vegeta: 7,440 of 34,560).
        def done_of(state: Any) -> int:
            return int(min(state.chunks * spec.sweep.chunk_size, total))
    elif spec.sweep.method == "evolutionary":
        # The bar counts the generations' planned evaluations (one chunk per generation), not
        # the new designs among their children, which is all the search evaluates.
        def done_of(state: Any) -> int:
            return planned_evaluations(spec.sweep, problem.space.size, max(state.chunks - 1, 0))
    progress, hook = _sweep_progress(study, problem, total, quiet, done_of)
    files.mkdir(parents=True, exist_ok=True)
    executor = None
    chunk_evaluator = population_evaluator = None
    if spec.executor.kind == "ray":
        executor = make_executor(spec, problem, make_pruner(PrunerSpec()),
                                 str(cache_dir) if cache_dir is not None else None)
        chunk_evaluator = _executor_chunks(executor)
        population_evaluator = _executor_population(executor)
    try:
        result = run_sweep(problem, spec.sweep, spec.seed, files, fingerprint, hook,
                           spec.budget.timeout_s, chunk_evaluator, population_evaluator, guard)
    except KeyboardInterrupt:
        summary.interrupted = True
        return summary
    finally:
        progress.close()
        if executor is not None:
            executor.cancel()
            executor.close()
    summary.front_columns = result.front
    front = len(result.front.get("__F", []))
    summary.sweep = {
        "evaluated": result.evaluated, "feasible": result.feasible, "failed": result.failed,
        # What the progress bar counted: an exhaustive sweep's points, duplicates included.
        "enumerated": done_of(result) if done_of is not None else result.evaluated,
        "front": front, "front_recorded": min(front, spec.sweep.max_front_trials),
        "seconds": round(result.seconds, 3),
        "points_per_s": round(result.evaluated / max(result.seconds, 1e-9)),
        "complete": result.complete,
        "history": result.history,
    }
    # A partial exhaustive sweep is not recorded: its checkpoint resumes it. A complete one is
    # recorded point by point under keys, and its checkpoint removed only after that, so a
    # kill while recording resumes the recording, never the sweep, and duplicates nothing.
    if not result.complete:
        summary.interrupted = True
        summary.sweep.update(files=str(files), files_bytes=files_bytes(files))
        summary.n_finished = len(study.get_trials(deepcopy=False))
        return summary
    summary.n_new = _record_sweep(study, problem, result, "sweep", spec.sweep.max_front_trials,
                                  fingerprint, guard)
    summary.n_finished = len(study.get_trials(deepcopy=False))
    guard()
    paths = sweep_files(files)
    for attr, key in (("dse.sweep_file", "points"), ("dse.sweep_front", "front")):
        if (paths[key] / "meta.json").is_file():
            study.set_user_attr(attr, str(paths[key].resolve()))
    finish_sweep(files)
    summary.sweep["files"] = str(files)
    summary.sweep["files_bytes"] = files_bytes(files)
    study.set_user_attr("dse.sweep_summary", summary.sweep)
    study.set_user_attr("dse.sweep_complete", True)
    return summary


# -- nested mode --------------------------------------------------------------------------------
def _knee(F: np.ndarray) -> int:
    # Screened points (never evaluated) carry infinite objectives; they are never the knee
    # unless every point is one, and they must not turn the normalization into NaN.
    finite = np.isfinite(F).all(axis=1)
    if not finite.any():
        return 0
    G = F[finite]
    lo, hi = G.min(axis=0), G.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return int(np.flatnonzero(finite)[np.argmin(np.linalg.norm((G - lo) / span, axis=1))])


def _tell_nested(
    study: optuna.Study, problem: Problem, trial: optuna.Trial, outer: dict[str, Any],
    done: Done,
) -> TrialState:
    if done.failure is not None:
        trial.set_user_attr("dse.fail_reason", done.failure)
        study.tell(trial, state=TrialState.FAIL)
        return TrialState.FAIL
    result = done.value
    front = result["front"]
    feasible = bool(front) and len(front["__F"]) > 0
    if not feasible:
        # Tell the least-violating point, infeasible: the sampler learns where the outer
        # proposal breaks a constraint instead of seeing a bare failure.
        front = result.get("least_violating") or {}
        if not front:
            trial.set_user_attr("dse.fail_reason",
                                f"no inner point could be evaluated among {result['evaluated']}")
            study.tell(trial, state=TrialState.FAIL)
            return TrialState.FAIL
    if result.get("curve"):
        trial.set_user_attr("dse.curve", [[s, stored(v)] for s, v in result["curve"]])
    # Every inner design on the front is kept, ties included (run_sweep folds only the same
    # design evaluated twice).
    k = _knee(front["__F"])
    inner_names = [p.name for p in problem.space.params
                   if p.name not in outer and not isinstance(p, Fixed)]
    objective_keys = set(problem.objective_keys)
    trial.set_user_attr("dse.inner_params", {n: stored(front[n][k]) for n in inner_names})
    trial.set_user_attr("dse.inner_evaluated", int(result["evaluated"]))
    trial.set_user_attr("metrics", {key: stored(front[key][k]) for key in problem.pipeline.produced
                                    if key not in objective_keys and key in front})
    set_constraints(trial, problem.constraint_keys, front["__G"][k])
    signs = np.asarray([o.sign for o in problem.objectives])
    study.tell(trial, [float(v) for v in front["__F"][k] * signs])
    if feasible:
        rest = np.arange(len(front["__F"])) != k
        record_points(study, problem, {c: v[rest] for c, v in front.items()}, "nested-inner",
                      {"dse.outer_trial": trial.number})
    return TrialState.COMPLETE


def _outer_names(spec: StudySpec, problem: Problem) -> set[str]:
    """Parameters Optuna proposes in nested mode: names or shell patterns (``nm.*``)."""
    names: set[str] = set()
    for pattern in spec.nested.outer:
        hits = {n for n in problem.space.names if fnmatch.fnmatchcase(n, pattern)}
        if not hits:
            raise DseError(
                f"{spec.path}: nested.outer: {pattern!r} matches no parameter; expected names "
                f"or patterns over {', '.join(problem.space.names)}"
            )
        names |= hits
    return names


def _run_nested(
    spec: StudySpec, problem: Problem, study: optuna.Study, quiet: bool,
    cache_dir: str | Path | None, run: RunRegistration,
) -> RunSummary:
    outer_names = _outer_names(spec, problem)
    outer_space = replace(
        problem.space,
        params=tuple(p for p in problem.space.params if p.name in outer_names),
        derived=(), constraints=(),
    )
    retried = recover_orphans(study, run)
    done_before = budget_used(study, "nested")
    budget = spec.budget.n_trials - done_before
    summary = RunSummary(spec.name, "", "nested", done_before, 0, 0.0, retried=retried)
    if budget <= 0:
        return summary
    inner_sweep: SweepSpec = replace(spec.sweep, sample_rest=0, save="none")
    inner_finite = all(p.size is not None for p in problem.space.params
                       if p.name not in outer_names)
    if not inner_finite and inner_sweep.method == "exhaustive":
        inner_sweep = replace(inner_sweep, method="evolutionary")
    executor = make_executor(spec, problem, make_pruner(PrunerSpec()),
                             str(cache_dir) if cache_dir is not None else None)
    progress = _progress(study, problem, spec.budget.n_trials, quiet)
    progress.resume_from(done_before)
    order = suggest_order(outer_space)
    deadline = time.monotonic() + spec.budget.timeout_s if spec.budget.timeout_s else None
    def ask(room: int, job: _Job) -> bool:
        # The budget is the study's: with other live drivers it is recounted before each
        # proposal, as in trial mode (overshoot at most the proposals asked at one moment).
        if trials_to_ask(study, run, spec.budget.n_trials, room, mode="nested") <= 0:
            return False
        trial = ask_trial(study, run)
        job.trials.append(trial)
        trial.set_user_attr("dse.mode", "nested-outer")
        point = suggest(trial, outer_space, order)
        job.extra = {p.name: point[p.name] for p in outer_space.params}
        job.kind = "inner_sweep"
        job.payload = {"outer": job.extra, "sweep": inner_sweep, "seed": spec.seed}
        return True

    def tell(job: _Job, done: Done) -> None:
        (trial,) = job.trials
        state = _tell_nested(study, problem, trial, job.extra, done)
        if state == TrialState.FAIL:
            summary.note_failure(str(trial.user_attrs.get("dse.fail_reason", "")))
        summary.n_complete += state == TrialState.COMPLETE
        summary.n_failed += state == TrialState.FAIL
        summary.n_new += 1
        if done.failure is None and done.value["front"]:
            F = done.value["front"]["__F"]
            progress.add(F, np.ones(len(F), dtype=bool), 1)
        else:
            progress.tick(1)

    try:
        summary.interrupted = _drive(study, executor, budget, deadline, ask, tell)
    finally:
        progress.close()
    summary.n_finished = done_before + summary.n_new
    _stop_if_lost(executor, summary.n_failed)
    return summary
