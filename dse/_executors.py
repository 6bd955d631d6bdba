"""Executors: where batches are evaluated. Serial (in-process) and Ray.

The driver keeps the Optuna study and sampler; executors only evaluate batches and return
:class:`~dse._evaluate.BatchOutcome` objects, so workers never touch the storage and a Ray cluster
spanning machines works with any storage the driver can reach. Intermediate values stream back to
the driver, which decides pruning and answers the worker's ``should_prune``.

The Ray executor runs one actor per worker; each builds its own :class:`~dse._problem.Problem`
once (models, caches) and evaluates batches sent to it. An actor that dies has its batch retried
once on a fresh actor, then the batch's points fail with the reason.
"""

from __future__ import annotations

import json
import os
import time
from abc import ABC, abstractmethod
from typing import Any

from dse._errors import DseError
from dse._evaluate import BatchOutcome, PointContext, work
from dse._problem import Problem
from dse._pruning import NoPruner
from dse._shipping import Registrations, describe_models, registrations_for
from dse._spec import StudySpec


__all__ = ["Executor", "RayExecutor", "SerialExecutor", "make_executor"]


class Executor(ABC):
    """Evaluates batches; at most :attr:`capacity` batches are in flight."""

    capacity: int = 1

    @abstractmethod
    def submit(self, job: int, kind: str, payload: Any, keys: list[int]) -> None:
        """Start a job: ``batch`` (payload: columns, one point per key) or ``inner_sweep``."""

    @abstractmethod
    def poll(self, timeout: float) -> list[tuple[int, Any]]:
        """Finished jobs, waiting up to ``timeout`` seconds for at least one."""

    @property
    @abstractmethod
    def in_flight(self) -> int: ...

    def cancel(self) -> None:
        """Abandon in-flight work (Ctrl-C)."""

    def close(self) -> None:
        """Release resources."""


class SerialExecutor(Executor):
    """Evaluates each batch in the calling process as it is submitted."""

    def __init__(self, problem: Problem, pruner: NoPruner) -> None:
        self.problem = problem
        self.pruner = pruner
        self._done: list[tuple[int, Any]] = []

    def submit(self, job: int, kind: str, payload: Any, keys: list[int]) -> None:
        def ctx(key: int) -> PointContext:
            return PointContext(key, self.pruner.observe, self.pruner.should_prune)

        self._done.append((job, work(self.problem, kind, payload, keys, ctx)))

    def poll(self, timeout: float) -> list[tuple[int, Any]]:
        done, self._done = self._done, []
        return done

    @property
    def in_flight(self) -> int:
        return len(self._done)


def _ray() -> Any:
    try:
        import ray
    except ImportError:  # pragma: no cover - ray is a hard dependency
        raise DseError("the ray executor needs ray: pip install ray") from None
    return ray


def ensure_ray(workers: int, address: str | None) -> float:
    """Start or join Ray; returns the seconds it took (0 when already running)."""
    ray = _ray()
    if ray.is_initialized():
        return 0.0
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    t0 = time.perf_counter()
    try:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DseError(f"cannot start or join Ray (address={address!r}): {first[:200]}") from None
    return time.perf_counter() - t0


class _Board:
    """A Ray actor relaying intermediate values to the driver and prune decisions back."""

    def __init__(self) -> None:
        self.reports: list[tuple[int, int, dict[str, float]]] = []
        self.prune: set[int] = set()

    def report(self, key: int, step: int, values: dict[str, float]) -> None:
        self.reports.append((key, step, values))

    def drain(self) -> list[tuple[int, int, dict[str, float]]]:
        out, self.reports = self.reports, []
        return out

    def set_prune(self, keys: list[int]) -> None:
        self.prune.update(keys)

    def should_prune(self, key: int) -> bool:
        return key in self.prune


class _Worker:
    """A Ray actor holding one Problem and evaluating jobs on it."""

    def __init__(self, spec: StudySpec, cache_dir: str | None,
                 registrations: Registrations | None = None) -> None:
        # A failure to build is kept, not raised: ready() reports it as one line, so the run
        # stops before any trial is spent instead of every trial dying with the actor.
        self.error: str | None = None
        try:
            if registrations is not None:
                registrations.apply()
            self.problem = Problem(spec, cache_dir=cache_dir)
        except Exception as exc:  # noqa: BLE001 - any reason must reach the driver
            self.error = str(exc).strip().splitlines()[0] if str(exc).strip() else \
                type(exc).__name__

    def ready(self) -> str | None:
        """Why this worker cannot evaluate the study, or ``None`` when it can."""
        return self.error

    def run(self, kind: str, payload: Any, keys: list[int], board: Any = None) -> Any:
        if board is None:
            return work(self.problem, kind, payload, keys, None)
        ray = _ray()

        def ctx(key: int) -> PointContext:
            return PointContext(
                key,
                lambda k, s, v: board.report.remote(k, s, v),
                lambda k: bool(ray.get(board.should_prune.remote(k))),
            )

        return work(self.problem, kind, payload, keys, ctx)

    def pid(self) -> int:
        return os.getpid()


# Idle worker actors kept between runs in this process, by problem fingerprint: a notebook or a
# benchmark running several studies of one problem pays actor start-up (seconds) once.
_POOL: dict[str, list[Any]] = {}


def _problem_key(spec: StudySpec, cache_dir: str | None) -> str:
    return json.dumps([spec.models, spec.domains, spec.shared, spec.overrides, spec.objectives,
                       spec.bounds, cache_dir], default=str, sort_keys=True)


class RayExecutor(Executor):
    """One Ray actor per worker; jobs go to idle actors; dead actors are replaced.

    Intermediate values are relayed through a small board actor only when ``relay`` is set
    (models that report, i.e. expensive ones); cheap models never pay for the relay.
    """

    def __init__(
        self,
        spec: StudySpec,
        workers: int,
        pruner: NoPruner,
        address: str | None = None,
        cache_dir: str | None = None,
        max_attempts: int = 2,
        relay: bool = True,
    ) -> None:
        self.startup_s = ensure_ray(workers, address)
        ray = _ray()
        self._ray = ray
        self.spec = spec
        self.pruner = pruner
        self.cache_dir = cache_dir
        self.max_attempts = max_attempts
        self._board = ray.remote(_Board).options(num_cpus=0).remote() if relay else None
        self._worker_cls = ray.remote(_Worker).options(num_cpus=1, max_restarts=0)
        # Pooled actors belong to one Ray job: after ray.shutdown()/init() they are gone.
        self._key = _problem_key(spec, cache_dir) + ray.get_runtime_context().get_job_id()
        pooled = _POOL.pop(self._key, [])
        for other in list(_POOL):  # idle actors of other problems still hold their CPUs
            for actor in _POOL.pop(other):
                _kill(ray, actor)
        self._registrations = registrations_for(spec)
        self._registrations.by_value()
        fresh = [self._new_actor() for _ in range(workers - len(pooled[:workers]))]
        self._actors = pooled[:workers] + fresh
        for extra in pooled[workers:]:
            ray.kill(extra)
        self._check_ready(fresh)
        self.capacity = workers
        self._idle = list(self._actors)
        # ref -> (job, actor, kind, payload, keys, attempt)
        self._running: dict[Any, tuple[int, Any, str, Any, list[int], int]] = {}

    def _new_actor(self) -> Any:
        return self._worker_cls.remote(self.spec, self.cache_dir, self._registrations)

    def _check_ready(self, actors: list[Any]) -> None:
        """Raise one line naming the models and the reason when a new worker cannot build
        the study (before any trial is asked)."""
        ray = self._ray
        for actor in actors:
            try:
                reason = ray.get(actor.ready.remote())
            except ray.exceptions.RayError as exc:  # e.g. the class did not unpickle there
                lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
                reason = f"{type(exc).__name__}: {lines[-1][:300] if lines else ''}"
            if reason is not None:
                for a in self._actors + ([self._board] if self._board is not None else []):
                    ray.kill(a)
                self._actors.clear()
                raise DseError(f"Ray worker cannot build the study's models "
                               f"({describe_models(self.spec)}): {reason}")

    def submit(self, job: int, kind: str, payload: Any, keys: list[int],
               attempt: int = 1) -> None:
        if not self._idle:
            raise RuntimeError("no idle Ray worker; poll before submitting more")
        actor = self._idle.pop()
        ref = actor.run.remote(kind, payload, list(keys), self._board)
        self._running[ref] = (job, actor, kind, payload, keys, attempt)

    @property
    def in_flight(self) -> int:
        return len(self._running)

    def _relay(self) -> None:
        if self._board is None:
            return
        ray = self._ray
        reports = ray.get(self._board.drain.remote())
        for key, step, values in reports:
            self.pruner.observe(key, step, values)
        decided = [k for _, _, _, _, keys, _ in self._running.values() for k in keys
                   if self.pruner.should_prune(k)]
        if decided:
            self._board.set_prune.remote(decided)

    def poll(self, timeout: float) -> list[tuple[int, Any]]:
        ray = self._ray
        if not self._running:
            return []
        ready, _ = ray.wait(list(self._running), num_returns=1, timeout=timeout)
        self._relay()
        done = []
        for ref in ready:
            job, actor, kind, payload, keys, attempt = self._running.pop(ref)
            try:
                done.append((job, ray.get(ref)))
                self._idle.append(actor)
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as exc:
                self._actors.remove(actor)
                fresh = self._new_actor()
                self._actors.append(fresh)
                self._idle.append(fresh)
                if attempt < self.max_attempts:
                    self.submit(job, kind, payload, keys, attempt + 1)
                else:
                    reason = f"Ray worker died {attempt} times: {type(exc).__name__}"
                    done.append((job, _failed(kind, keys, reason)))
            except ray.exceptions.RayTaskError as exc:
                self._idle.append(actor)
                reason = f"worker error: {str(exc).strip().splitlines()[-1][:300]}"
                done.append((job, _failed(kind, keys, reason)))
        return done

    def cancel(self) -> None:
        # Ray cannot force-cancel an actor task; ending the busy actors stops the work.
        for _, actor, *_rest in list(self._running.values()):
            try:
                self._ray.kill(actor)
            except Exception:
                pass
            self._actors.remove(actor)
        self._running.clear()

    def close(self) -> None:
        busy = {entry[1] for entry in self._running.values()}
        keep = [a for a in self._actors if a not in busy]
        for actor in busy:
            try:
                self._ray.kill(actor)
            except Exception:
                pass
        _POOL.setdefault(self._key, []).extend(keep)
        if self._board is not None:
            self._ray.kill(self._board)
        self._actors.clear()


def _kill(ray: Any, actor: Any) -> None:
    try:
        ray.kill(actor)
    except Exception:  # noqa: BLE001 - an actor of an ended Ray job is already gone
        pass


def _failed(kind: str, keys: list[int], reason: str) -> Any:
    if kind == "batch":
        return BatchOutcome(len(keys), errors=[reason] * len(keys), pruned=[False] * len(keys))
    return reason


def make_executor(
    spec: StudySpec, problem: Problem, pruner: NoPruner, cache_dir: str | None = None
) -> Executor:
    ex = spec.executor
    if ex.kind == "ray":
        relay = any(m.expensive for m in problem.models.values())
        return RayExecutor(spec, ex.workers, pruner, ex.ray_address, cache_dir, relay=relay)
    return SerialExecutor(problem, pruner)
