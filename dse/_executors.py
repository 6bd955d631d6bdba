"""Executors: where jobs are evaluated. Serial (in-process) and Ray.

The driver keeps the Optuna study and sampler; executors only evaluate :class:`Job` objects and
hand back :class:`Done` objects (a value, or a failure with its reason), so workers never touch
the storage and a Ray cluster spanning machines works with any storage the driver can reach.
Intermediate values stream back to the driver, which decides pruning and answers the worker.

The Ray executor runs one actor per worker; each builds its own :class:`~dse._problem.Problem`
once (models, caches) and evaluates the jobs sent to it. Faults, and what each costs:

* **a worker dies** (its process or its node): the job is queued again and runs on the next
  free worker (at most ``max_attempts`` runs in all, then its points fail with the reason). A
  replacement actor is started only when the cluster still has a CPU for it, so a lost node
  shrinks the pool instead of leaving a job waiting forever for an actor that cannot be placed.
* **a node dies**: Ray's GCS marks it dead after its health checks fail (by default after
  about 15-30 s of silence; tighter checks declared healthy nodes dead on a loaded machine), and
  the executor also asks the GCS for the nodes' state on each poll, so the worker actors of a
  dead node are given up as soon as the GCS knows.
* **no worker is left**: the queued and in-flight jobs fail with the reason (``interrupted:
  no Ray worker left ...``, so the next run retries their points) and :attr:`RayExecutor.lost`
  says why; the run then stops with one line and a non-zero exit code.
* **a worker never starts** (no CPU free, a node that vanished): it is given up after
  :data:`START_BOUND_S`, a bound on a hang and never a timing assumption about a healthy run.
* **an unreachable ``--ray-address``**: one line within :data:`CONNECT_TIMEOUT_S`, before the
  storage is opened (:func:`ensure_ray` runs first), so nothing is written.

A local Ray (``--workers K``) binds every server to the loopback interface.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from dse._errors import DseError
from dse._evaluate import JobFailure, PointContext, work
from dse._problem import Problem
from dse._pruning import NoPruner
from dse._shipping import Registrations, describe_models, registrations_for
from dse._spec import StudySpec


__all__ = ["CONNECT_TIMEOUT_S", "Done", "Executor", "Job", "RayExecutor", "SerialExecutor",
           "START_BOUND_S", "ensure_ray", "make_executor"]

# Joining a cluster: the TCP probe, then the whole of ray.init, must answer within this.
CONNECT_TIMEOUT_S = 20.0
# A worker actor that has not started after this long is given up (no CPU for it, lost node).
START_BOUND_S = 180.0
# Prefix of the reason given to jobs that fail because no worker is left: the next run retries
# their points (see dse._study, interrupted points are retried once).
NO_WORKER_LEFT = "interrupted: no Ray worker left"


@dataclass(frozen=True)
class Job:
    """One unit of work: ``batch`` (trial mode; one point per key), ``chunk`` (an index range
    of an exhaustive sweep), ``points`` (part of an evolutionary population) or
    ``inner_sweep`` (nested mode)."""

    id: int
    kind: str
    payload: Any
    keys: tuple[int, ...] = ()


@dataclass(frozen=True)
class Done:
    """A finished job: its ``value``, or the ``failure`` reason when it produced none."""

    job: int
    value: Any = None
    failure: str | None = None


def _done(job: Job, value: Any) -> Done:
    if isinstance(value, JobFailure):  # the one place a job's own failure becomes typed
        return Done(job.id, failure=value.reason)
    return Done(job.id, value)


class Executor(ABC):
    """Evaluates jobs; about :attr:`capacity` of them run at once."""

    @property
    @abstractmethod
    def capacity(self) -> int:
        """How many jobs to keep in flight (0 when no worker is left)."""

    @abstractmethod
    def submit(self, job: Job) -> None:
        """Start ``job`` (or queue it until a worker is free)."""

    @abstractmethod
    def poll(self, timeout: float) -> list[Done]:
        """Finished jobs, waiting up to ``timeout`` seconds for at least one."""

    @property
    @abstractmethod
    def in_flight(self) -> int: ...

    @property
    def lost(self) -> str | None:
        """Why no worker is left, or ``None`` while the executor can work."""
        return None

    def cancel(self) -> None:
        """Abandon in-flight work (Ctrl-C)."""

    def close(self) -> None:
        """Release resources."""


class SerialExecutor(Executor):
    """Evaluates each job in the calling process as it is submitted."""

    def __init__(self, problem: Problem, pruner: NoPruner) -> None:
        self.problem = problem
        self.pruner = pruner
        self._done: list[Done] = []

    @property
    def capacity(self) -> int:
        return 1

    def submit(self, job: Job) -> None:
        def ctx(key: int) -> PointContext:
            return PointContext(key, self.pruner.observe, self.pruner.should_prune)

        self._done.append(_done(job, work(self.problem, job.kind, job.payload,
                                          list(job.keys), ctx)))

    def poll(self, timeout: float) -> list[Done]:
        done, self._done = self._done, []
        return done

    @property
    def in_flight(self) -> int:
        return len(self._done)


# -- starting or joining Ray ---------------------------------------------------------------------
def _ray() -> Any:
    try:
        import ray
    except ImportError:  # pragma: no cover - ray is a hard dependency
        raise DseError("the ray executor needs ray: pip install ray") from None
    return ray


def _probe(address: str) -> None:
    """Fail in one line, fast, when nothing listens at a ``HOST:PORT`` Ray address."""
    if address == "auto":
        return
    hostport = address.split("://", 1)[-1]
    host, sep, port_s = hostport.rpartition(":")
    if not sep or not host or not port_s.isdigit() or not 0 < int(port_s) < 65536:
        raise DseError(f"--ray-address {address!r}: expected HOST:PORT of a running Ray head "
                       "(as 'ray start --head' prints it) or 'auto'")
    try:
        socket.create_connection((host.strip("[]"), int(port_s)),
                                 timeout=CONNECT_TIMEOUT_S / 2).close()
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise DseError(f"cannot reach the Ray cluster at {address!r}: {why}; expected the "
                       "address of a running Ray head ('ray start --head' prints it)") from None


def _join_within(ray: Any, address: str, seconds: float) -> None:
    """``ray.init(address=...)``, giving up after ``seconds``.

    Ray retries a GCS that does not answer forever, inside native code where no Python signal
    handler runs, so the join runs in a daemon thread the driver stops waiting for. The process
    then reports the error and exits; a library caller keeps a stuck thread, not a stuck call.
    """
    failure: list[BaseException] = []

    def join() -> None:
        try:
            # Ray's own retry messages would bury the one line the user gets
            ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
        except BaseException as exc:  # handed to the calling thread
            failure.append(exc)

    thread = threading.Thread(target=join, name="dse-ray-join", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise DseError(f"cannot join the Ray cluster at {address!r}: no answer within "
                       f"{seconds:.0f} s; expected the address of a running Ray head")
    if failure:
        raise failure[0]


@contextmanager
def _loopback_only(ray: Any) -> Iterator[None]:
    """Make a local ``ray.init`` keep its node address on 127.0.0.1.

    Ray replaces a loopback ``_node_ip_address`` by the machine's routable address unless
    "Ray clusters" are disabled (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, read into
    ``ray_constants.ENABLE_RAY_CLUSTER`` at import); with the node address on 127.0.0.1 the
    GCS, the raylet and the workers listen on loopback only. The switch is flipped only around
    a local start, so joining a real cluster later still finds the routable address.
    """
    constants = ray._private.ray_constants
    previous = constants.ENABLE_RAY_CLUSTER
    constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        constants.ENABLE_RAY_CLUSTER = previous


def ensure_ray(workers: int, address: str | None) -> float:
    """Start a local Ray (on loopback) or join ``address``; returns the seconds it took.

    Raises:
        DseError: one line, within :data:`CONNECT_TIMEOUT_S` for an address that does not
            answer.
    """
    ray = _ray()
    if ray.is_initialized():
        return 0.0
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address:
        os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "error")  # native retry warnings
    t0 = time.perf_counter()
    try:
        if address:
            _probe(address)
            _join_within(ray, address, CONNECT_TIMEOUT_S)
        else:
            with _loopback_only(ray):
                # address="local": always a new instance of our own, never a cluster some
                # other process left running (`ray start`), which would refuse num_cpus.
                # Ray's default health checks (a node is dead after ~15-30 s of silence): tighter
                # ones declared this very node dead on a loaded machine.
                ray.init(address="local", num_cpus=workers, include_dashboard=False,
                         log_to_driver=False, _node_ip_address="127.0.0.1")
    except DseError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DseError(f"cannot start or join Ray (address={address!r}): {first[:200]}") from None
    return time.perf_counter() - t0


# -- actors ----------------------------------------------------------------------------------
class _Board:
    """A Ray actor relaying intermediate values to the driver and prune decisions back.

    Each report waits for the driver's decision on that step (:meth:`decision` returns ``None``
    until the driver has seen the report), so a worker is pruned exactly as the serial executor
    would prune it, however late the driver gets to the report.
    """

    def __init__(self) -> None:
        self.reports: list[tuple[int, int, dict[str, float]]] = []
        self.decisions: dict[tuple[int, int], bool] = {}

    def report(self, key: int, step: int, values: dict[str, float]) -> None:
        self.reports.append((key, step, values))

    def drain(self) -> list[tuple[int, int, dict[str, float]]]:
        out, self.reports = self.reports, []
        return out

    def decide(self, decisions: list[tuple[int, int, bool]]) -> None:
        for key, step, prune in decisions:
            self.decisions[(key, step)] = prune

    def decision(self, key: int, step: int) -> bool | None:
        return self.decisions.pop((key, step), None)


class _BoardContext:
    """The worker side of the board for one point: report, then wait for the decision."""

    def __init__(self, board: Any, ray: Any) -> None:
        self.board = board
        self.ray = ray
        self.last_step: dict[int, int] = {}

    def report(self, key: int, step: int, values: Mapping[str, float]) -> None:
        self.last_step[key] = step
        self.board.report.remote(key, step, dict(values))

    def should_prune(self, key: int) -> bool:
        if key not in self.last_step:
            return False
        step = self.last_step[key]
        wait_s = 0.002
        while True:
            decided = self.ray.get(self.board.decision.remote(key, step))
            if decided is not None:
                return bool(decided)
            time.sleep(wait_s)  # the driver relays on its next poll
            wait_s = min(2 * wait_s, 0.05)


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

    def ready(self) -> tuple[str | None, str]:
        """Why this worker cannot evaluate the study (``None`` when it can), and its node."""
        return self.error, _ray().get_runtime_context().get_node_id()

    def run(self, kind: str, payload: Any, keys: list[int], board: Any = None) -> Any:
        if board is None:
            return work(self.problem, kind, payload, keys, None)
        relay = _BoardContext(board, _ray())

        def ctx(key: int) -> PointContext:
            return PointContext(key, relay.report, relay.should_prune)

        return work(self.problem, kind, payload, keys, ctx)

    def pid(self) -> int:
        return os.getpid()


@dataclass(eq=False)
class _Actor:
    """Driver-side record of one worker actor."""

    handle: Any
    started: float = field(default_factory=time.monotonic)
    node: str | None = None  # known once ready


# Idle worker actors kept between runs in this process, by problem fingerprint: a notebook or a
# benchmark running several studies of one problem pays actor start-up (seconds) once.
_POOL: dict[str, list[_Actor]] = {}


def _problem_key(spec: StudySpec, cache_dir: str | None) -> str:
    return json.dumps([spec.models, spec.domains, spec.shared, spec.overrides, spec.objectives,
                       spec.bounds, cache_dir], default=str, sort_keys=True)


def _last_line(exc: BaseException) -> str:
    lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
    return lines[-1].strip()[:300] if lines else type(exc).__name__


class RayExecutor(Executor):
    """One Ray actor per worker; jobs go to idle actors; dead actors are replaced while the
    cluster has room for them (see the module docstring for every fault).

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
        self._lost: str | None = None
        self._board = ray.remote(_Board).options(num_cpus=0).remote() if relay else None
        self._worker_cls = ray.remote(_Worker).options(num_cpus=1, max_restarts=0)
        # Pooled actors belong to one Ray job: after ray.shutdown()/init() they are gone.
        self._key = _problem_key(spec, cache_dir) + ray.get_runtime_context().get_job_id()
        self._registrations = registrations_for(spec)
        self._registrations.by_value()
        pooled = _POOL.pop(self._key, [])
        for other in list(_POOL):  # idle actors of other problems still hold their CPUs
            for actor in _POOL.pop(other):
                self._kill(actor)
        cpus = int(ray.cluster_resources().get("CPU", 0))
        if cpus < 1:
            raise DseError(f"the Ray cluster has no CPU for a worker (address={address!r})")
        want = min(workers, cpus)
        self._idle: list[_Actor] = []
        self._running: dict[Any, tuple[Job, _Actor, int]] = {}  # ref -> (job, actor, attempt)
        self._starting: dict[Any, _Actor] = {}  # ready() ref -> actor
        self._queue: deque[tuple[Job, int]] = deque()  # (job, attempt) waiting for a worker
        self._done: list[Done] = []
        self._nodes_checked = 0.0
        for actor in pooled[want:]:
            self._kill(actor)
        for actor in pooled[:want]:
            self._idle.append(actor)
        for _ in range(want - len(self._idle)):
            self._start_actor()
        self._wait_started()

    # -- actors -----------------------------------------------------------------------------
    def _start_actor(self) -> None:
        actor = _Actor(self._worker_cls.remote(self.spec, self.cache_dir, self._registrations))
        self._starting[actor.handle.ready.remote()] = actor

    def _kill(self, actor: _Actor) -> None:
        try:
            self._ray.kill(actor.handle)
        except Exception:
            pass

    def _wait_started(self) -> None:
        """Wait (at most :data:`START_BOUND_S`) for the first workers; raise when none came,
        or when a worker cannot build the study (one line naming the models)."""
        ray = self._ray
        if self._starting:
            ray.wait(list(self._starting), num_returns=len(self._starting),
                     timeout=START_BOUND_S)
        self._collect_started(block_reason=True)
        if not self._idle:
            self._give_up_starting()
            self.close()
            raise DseError(f"no Ray worker started within {START_BOUND_S:.0f} s (cluster CPUs: "
                           f"{ray.cluster_resources().get('CPU', 0):g})")

    def _collect_started(self, block_reason: bool = False) -> None:
        ray = self._ray
        if not self._starting:
            return
        ready, _ = ray.wait(list(self._starting), num_returns=len(self._starting), timeout=0)
        for ref in ready:
            actor = self._starting.pop(ref)
            try:
                reason, actor.node = ray.get(ref)
            except ray.exceptions.RayError as exc:  # died while starting, or did not unpickle
                reason = f"{type(exc).__name__}: {_last_line(exc)}"
                if not block_reason:
                    self._actor_lost(actor, reason)
                    continue
            if reason is not None:
                for a in [*self._starting.values(), *self._idle, actor]:
                    self._kill(a)
                self._starting.clear()
                self._idle.clear()
                if self._board is not None:
                    ray.kill(self._board)
                    self._board = None
                raise DseError(f"Ray worker cannot build the study's models "
                               f"({describe_models(self.spec)}): {reason}")
            self._idle.append(actor)

    def _give_up_starting(self, now: float | None = None) -> None:
        """Drop actors that did not start within the bound (nowhere to place them)."""
        for ref, actor in list(self._starting.items()):
            if now is None or now - actor.started > START_BOUND_S:
                del self._starting[ref]
                self._kill(actor)

    def _trim_starting(self) -> None:
        """Give up starting actors the cluster has no CPU for (a node went away)."""
        try:
            cpus = int(self._ray.cluster_resources().get("CPU", 0))
        except Exception:
            return
        for ref in list(self._starting)[: max(0, self._live() - cpus)]:
            self._kill(self._starting.pop(ref))

    def _live(self) -> int:
        return len(self._idle) + len(self._starting) + len(self._running)

    def _actor_lost(self, actor: _Actor, reason: str) -> None:
        """A worker is gone: replace it when the cluster still has a CPU for one more."""
        self._kill(actor)
        self._last_loss = reason
        try:
            cpus = int(self._ray.cluster_resources().get("CPU", 0))
        except Exception:
            cpus = 0
        if self._live() < cpus:
            self._start_actor()

    def _check_nodes(self) -> None:
        """Give up the workers of nodes the GCS reports dead (at most once a second)."""
        now = time.monotonic()
        if now - self._nodes_checked < 1.0:
            return
        self._nodes_checked = now
        try:
            dead = {n["NodeID"] for n in self._ray.nodes() if not n.get("Alive", True)}
        except Exception:
            return
        self._trim_starting()
        if not dead:
            return
        for actor in [a for a in self._idle if a.node in dead]:
            self._idle.remove(actor)
            self._actor_lost(actor, "its node died")
        for ref, (job, actor, attempt) in list(self._running.items()):
            if actor.node in dead:
                del self._running[ref]
                self._retry(job, attempt, "Ray worker died: its node died")
                self._actor_lost(actor, "its node died")

    # -- jobs -------------------------------------------------------------------------------
    @property
    def capacity(self) -> int:
        return 0 if self._lost else self._live()

    @property
    def in_flight(self) -> int:
        return len(self._running) + len(self._queue) + len(self._done)

    @property
    def lost(self) -> str | None:
        return self._lost

    def submit(self, job: Job) -> None:
        if self._lost:
            self._done.append(Done(job.id, failure=f"{NO_WORKER_LEFT} ({self._lost})"))
            return
        self._queue.append((job, 1))
        self._dispatch()

    def _dispatch(self) -> None:
        while self._queue and self._idle:
            job, attempt = self._queue.popleft()
            actor = self._idle.pop()
            ref = actor.handle.run.remote(job.kind, job.payload, list(job.keys), self._board)
            self._running[ref] = (job, actor, attempt)

    def _retry(self, job: Job, attempt: int, reason: str) -> None:
        if attempt < self.max_attempts:
            self._queue.appendleft((job, attempt + 1))
        else:
            self._done.append(Done(job.id, failure=f"Ray worker died {attempt} times: "
                                                   f"{reason}"))

    def _relay(self) -> None:
        if self._board is None:
            return
        ray = self._ray
        decisions = []
        for key, step, values in ray.get(self._board.drain.remote()):
            self.pruner.observe(key, step, values)
            decisions.append((key, step, self.pruner.should_prune(key)))
        if decisions:
            self._board.decide.remote(decisions)

    def poll(self, timeout: float) -> list[Done]:
        ray = self._ray
        waiting = list(self._running) + list(self._starting)
        if waiting and not self._done:
            ray.wait(waiting, num_returns=1, timeout=timeout)
        self._relay()
        self._collect_started()
        if self._running:
            ready, _ = ray.wait(list(self._running), num_returns=len(self._running), timeout=0)
            for ref in ready:
                job, actor, attempt = self._running.pop(ref)
                try:
                    self._done.append(_done(job, ray.get(ref)))
                    self._idle.append(actor)
                except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError,
                        ray.exceptions.NodeDiedError, ray.exceptions.ObjectLostError) as exc:
                    self._retry(job, attempt, type(exc).__name__)
                    self._actor_lost(actor, type(exc).__name__)
                except ray.exceptions.RayTaskError as exc:
                    self._idle.append(actor)
                    self._done.append(Done(job.id, failure=f"worker error: {_last_line(exc)}"))
        self._check_nodes()
        self._give_up_starting(time.monotonic())
        self._dispatch()
        if not self._live() and (self._queue or self._running):
            self._lost = getattr(self, "_last_loss", "every worker died")
            while self._queue:
                job, _ = self._queue.popleft()
                self._done.append(Done(job.id, failure=f"{NO_WORKER_LEFT} ({self._lost})"))
        done, self._done = self._done, []
        return done

    def cancel(self) -> None:
        # Ray cannot force-cancel an actor task; ending the busy actors stops the work.
        for _, actor, _attempt in list(self._running.values()):
            self._kill(actor)
        self._running.clear()
        self._queue.clear()

    def close(self) -> None:
        for _, actor, _attempt in self._running.values():
            self._kill(actor)
        for actor in self._starting.values():
            self._kill(actor)
        self._running.clear()
        self._starting.clear()
        if not self._lost:
            _POOL.setdefault(self._key, []).extend(self._idle)
        else:
            for actor in self._idle:
                self._kill(actor)
        self._idle = []
        if self._board is not None:
            self._ray.kill(self._board)
            self._board = None


def make_executor(
    spec: StudySpec, problem: Problem, pruner: NoPruner, cache_dir: str | None = None
) -> Executor:
    ex = spec.executor
    if ex.kind == "ray":
        relay = any(m.expensive for m in problem.models.values())
        return RayExecutor(spec, ex.workers, pruner, ex.ray_address, cache_dir, relay=relay)
    return SerialExecutor(problem, pruner)
