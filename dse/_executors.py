"""Executors: where jobs are evaluated. Serial (in-process) and Ray.

The driver keeps the Optuna study and sampler; executors only evaluate :class:`Job` objects and
hand back :class:`Done` objects (a value, or a failure with its reason), so workers never touch
the storage and a Ray cluster spanning machines works with any storage the driver can reach.
Intermediate values stream back to the driver, which decides pruning and answers the worker.

The Ray executor runs one actor per worker; each builds its own :class:`~dse._problem.Problem`
once (models, caches) and evaluates the jobs sent to it. Faults, and what each costs:

* **a worker dies** (its process or its node): the job is queued again and runs on the next
  free worker, one on another node when there is one. A run lost with its worker's *process*
  uses up one of the job's ``max_attempts`` (a job that crashes its worker fails with the
  reason after that many); a run lost with its *node* does not, because the job is not to blame
  (a job fails only after :data:`NODE_LOSS_BOUND` such runs, so one that brings its node down
  on a cluster that keeps replacing nodes does not run forever). Whether a node died is known
  from the GCS's cause line ("its node has died") or, for a worker that died first, from the
  GCS declaring its node dead later: a run lost on a node now known dead is counted as a node
  loss, whenever it happened. A replacement actor is started only when the cluster still has a
  CPU for it, so a lost node shrinks the pool instead of leaving a job waiting forever for an
  actor that cannot be placed.
* **a worker is unreachable** (``ActorUnavailableError``: its connection broke, the GCS does not
  yet know whether it is dead): its job runs again elsewhere (an attempt), and the actor is
  probed until it answers (back to work) or the GCS declares it dead (lost). A live worker that
  missed one call under load is never killed for it.
* **a replacement is cancelled before it starts** (Ray's ``ActorDiedError`` with "the actor
  never ran": it was being placed on a node that then died, see ``GcsActorManager::OnNodeDead``
  and ``AddActorInfo``, which sets ``never_started`` for any death in ``PENDING_CREATION``): no
  work was lost with it and it says nothing about the other nodes, so it is not a lost worker;
  another is started while the cluster still has a CPU for it.
* **a node dies**: Ray's GCS marks it dead after its health checks fail (by default after
  about 15-30 s of silence; tighter checks declared healthy nodes dead on a loaded machine), and
  the executor also asks the GCS for the nodes' state on each poll, so the worker actors of a
  dead node are given up as soon as the GCS knows. The first worker death that names its node
  as the cause gives up that node's other workers at once, so a job is never run again on a
  worker of the node that just died.
* **no worker is left** (no actor running, idle, starting or being probed, because the
  cluster has no CPU left for one): the queued and in-flight jobs fail with the reason
  (``interrupted: no Ray worker left ...``, so the next run retries their points) and
  :attr:`RayExecutor.lost` says why, naming the last *working* worker's death (its node died),
  never a cancelled replacement; the run then stops with one line and a non-zero exit code.
* **a worker never starts** (no CPU free, a node that vanished): it is given up after
  :data:`START_BOUND_S`, a bound on a hang and never a timing assumption about a healthy run.
* **an unreachable ``--ray-address``**: one line within :data:`CONNECT_TIMEOUT_S` plus
  :data:`PROBE_TIMEOUT_S`, before the storage is opened (:func:`ensure_ray` runs first), so
  nothing is written. Before ``ray.init`` the address is probed the way a gRPC client opens a
  connection (RFC 9113 section 3.4: the client sends the HTTP/2 connection preface and a
  SETTINGS frame, and the server's preface is a SETTINGS frame): a port where nothing listens,
  or where something that is not a gRPC server (Ray's GCS is one) listens, is named in one line
  at once (within :data:`PROBE_TIMEOUT_S` for a listener that never answers), instead of after
  ``ray.init``'s own retries and their native warning lines. Native output during the join is
  kept off stderr, so the user sees only dse's line.

A local Ray (``--workers K``) binds every server to the loopback interface.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import sys
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


__all__ = ["CONNECT_TIMEOUT_S", "Done", "Executor", "Job", "NODE_LOSS_BOUND", "PROBE_TIMEOUT_S",
           "RayExecutor", "SerialExecutor", "START_BOUND_S", "ensure_ray", "make_executor"]

# Joining a cluster: the whole of ray.init must answer within this, after the probe.
CONNECT_TIMEOUT_S = 20.0
# The probe of a Ray address (TCP connect, then the HTTP/2 preface exchange) answers within this.
PROBE_TIMEOUT_S = 10.0
# RFC 9113 section 3.4: the client connection preface, then an empty SETTINGS frame (a 9-byte
# frame header: length 0, type 0x4, no flags, stream 0).
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
_H2_SETTINGS = 0x4
# A worker actor that has not started after this long is given up (no CPU for it, lost node).
START_BOUND_S = 180.0
# Prefix of the reason given to jobs that fail because no worker is left: the next run retries
# their points (see dse._study, interrupted points are retried once).
NO_WORKER_LEFT = "interrupted: no Ray worker left"
# Runs of one job lost with their nodes before the job fails (they use up none of its attempts).
NODE_LOSS_BOUND = 4


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
    expected = "expected the address of a running Ray head ('ray start --head' prints it)"
    try:
        conn = socket.create_connection((host.strip("[]"), int(port_s)),
                                        timeout=PROBE_TIMEOUT_S)
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise DseError(f"cannot reach the Ray cluster at {address!r}: {why}; {expected}") \
            from None
    with conn:
        try:
            conn.sendall(_H2_PREFACE)
            header = _read_exactly(conn, 9)
        except TimeoutError:
            raise DseError(f"cannot join the Ray cluster at {address!r}: something listens "
                           f"there but did not answer as Ray's GCS within "
                           f"{PROBE_TIMEOUT_S:.0f} s; {expected}") from None
        except OSError:  # reset: it refused the preface
            header = b""
    if len(header) < 9 or header[3] != _H2_SETTINGS:
        raise DseError(f"cannot join the Ray cluster at {address!r}: what listens there is not "
                       f"Ray's GCS (it does not speak gRPC); {expected}")


def _read_exactly(conn: socket.socket, n: int) -> bytes:
    """Up to ``n`` bytes: fewer only when the peer closed the connection first."""
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _flush_stderr() -> None:
    if sys.stderr is not None:  # None under pythonw and some embedders
        sys.stderr.flush()


@contextmanager
def _native_output_hidden() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null for the duration: Ray's native code writes its
    retry warnings there directly, past Python's ``sys.stderr`` and logging."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to hide
        yield
        return
    _flush_stderr()
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        _flush_stderr()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


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
    with _native_output_hidden():
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
                _start_local(ray, workers)
    except DseError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DseError(f"cannot start or join Ray (address={address!r}): {first[:200]}") from None
    return time.perf_counter() - t0


# Ray's raylet waits a fixed 15 s for its agents to write their port files; on a loaded machine
# they can take longer and the start fails ("The current node timed out during startup")
# although nothing is wrong: such a start is tried once more, from a clean shutdown.
LOCAL_START_ATTEMPTS = 2


def _start_local(ray: Any, workers: int) -> None:
    """``ray.init`` of a new local instance on loopback, retried once after a start-up
    time-out (see :data:`LOCAL_START_ATTEMPTS`)."""
    for attempt in range(1, LOCAL_START_ATTEMPTS + 1):
        try:
            ray.init(address="local", num_cpus=workers, include_dashboard=False,
                     log_to_driver=False, _node_ip_address="127.0.0.1")
            return
        except Exception as exc:
            if attempt == LOCAL_START_ATTEMPTS or "timed out" not in str(exc).lower():
                raise
            ray.shutdown()


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
    unreachable_since: float | None = None  # first ActorUnavailableError not yet cleared
    probed: float = 0.0  # when it was last asked whether it is alive


# Idle worker actors kept between runs in this process, by problem fingerprint: a notebook or a
# benchmark running several studies of one problem pays actor start-up (seconds) once.
_POOL: dict[str, list[_Actor]] = {}


def _problem_key(spec: StudySpec, cache_dir: str | None) -> str:
    return json.dumps([spec.models, spec.domains, spec.shared, spec.overrides, spec.objectives,
                       spec.bounds, cache_dir], default=str, sort_keys=True)


def _last_line(exc: BaseException) -> str:
    lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
    return lines[-1].strip()[:300] if lines else type(exc).__name__


# Ray's ActorDiedError keeps only its message: the GCS's ``never_started`` flag (the actor died
# while still being placed, DEPENDENCIES_UNREADY or PENDING_CREATION) survives as this sentence.
_NEVER_STARTED = "The actor never ran"
# The GCS's own cause line in an ActorDiedError: "The actor died because its node has died.
# Node Id: ...", "The actor is dead because its worker process has died. ..." (gcs_server's
# strings; the node's line alone says "died").
_CAUSE = re.compile(r"^The actor (?:is dead|died) because")
_NODE_DIED = "because its node has died"


def _never_started(exc: BaseException) -> bool:
    """Whether ``exc`` says the actor was cancelled before it ever ran (no work died with it)."""
    return _NEVER_STARTED in str(exc)


def _death_reason(exc: BaseException) -> str:
    """``Type: why`` for an actor that died: the GCS's cause line when it gave one (the node
    died, the worker process died, ``ray.kill``), else the message's last line."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    cause = [ln for ln in lines if _CAUSE.match(ln)]
    why = cause[0] if cause else (lines[-1] if lines else "")
    return f"{type(exc).__name__}: {why[:300]}" if why else type(exc).__name__


def _node_died(exc: BaseException) -> bool:
    """Whether ``exc`` says the worker was lost with its node (not through its own process)."""
    return isinstance(exc, _ray().exceptions.NodeDiedError) or _NODE_DIED in str(exc)


@dataclass(eq=False)
class _Tries:
    """A job and the node of each run of it that was lost with its worker."""

    job: Job
    lost_on: list[str | None] = field(default_factory=list)

    def charged(self, dead: set[str]) -> int:
        """Runs lost through their worker's own death: those on nodes not known dead."""
        return sum(1 for node in self.lost_on if node is None or node not in dead)


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
        self._running: dict[Any, tuple[_Tries, _Actor]] = {}  # run() ref -> (job, actor)
        self._starting: dict[Any, _Actor] = {}  # ready() ref -> actor
        self._probing: dict[Any, _Actor] = {}  # pid() ref -> an actor that was unreachable
        self._suspect: list[_Actor] = []  # unreachable actors waiting for their next probe
        self._last_loss: str | None = None  # why the last working worker was lost
        self._start_failure: str | None = None  # why the last replacement did not start
        self._queue: deque[_Tries] = deque()  # jobs waiting for a worker
        self._dead: set[str] = set()  # nodes known dead
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
            why = f"; the last: {self._start_failure}" if self._start_failure else ""
            raise DseError(f"no Ray worker started within {START_BOUND_S:.0f} s (cluster CPUs: "
                           f"{ray.cluster_resources().get('CPU', 0):g}{why})")

    def _resolved(self, pending: dict[Any, _Actor]) -> list[tuple[Any, _Actor]]:
        """Take the answered calls out of ``pending`` (ref -> actor), without waiting."""
        if not pending:
            return []
        ready, _ = self._ray.wait(list(pending), num_returns=len(pending), timeout=0)
        return [(ref, pending.pop(ref)) for ref in ready]

    def _collect_started(self, block_reason: bool = False) -> None:
        ray = self._ray
        for ref, actor in self._resolved(self._starting):
            try:
                reason, actor.node = ray.get(ref)
            except ray.exceptions.RayActorError as exc:
                if block_reason and exc.actor_init_failed:  # would fail on any node
                    reason = f"{type(exc).__name__}: {_last_line(exc)}"
                else:
                    # It died before it ran a job (its node died while it was being placed,
                    # or it was cancelled): no work was lost with it, so it is not a lost
                    # worker, and it says nothing about the other nodes.
                    self._start_failed(actor, _death_reason(exc), replace=not block_reason)
                    continue
            except ray.exceptions.RayError as exc:  # its arguments did not unpickle
                reason = f"{type(exc).__name__}: {_last_line(exc)}"
                if not block_reason:
                    self._start_failed(actor, reason, replace=False)
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
        return (len(self._idle) + len(self._starting) + len(self._running)
                + len(self._probing) + len(self._suspect))

    def _room(self) -> bool:
        """Whether the cluster's live nodes have a CPU for one more worker."""
        try:
            cpus = int(self._ray.cluster_resources().get("CPU", 0))
        except Exception:
            return False
        return self._live() < cpus

    def _actor_lost(self, actor: _Actor, reason: str) -> None:
        """A worker is gone: replace it when the cluster still has a CPU for one more."""
        self._kill(actor)
        self._last_loss = reason
        if self._room():
            self._start_actor()

    def _start_failed(self, actor: _Actor, reason: str, replace: bool) -> None:
        """A worker died before it ran anything: try another while there is room for one."""
        self._kill(actor)
        self._start_failure = reason
        if replace and self._room():
            self._start_actor()

    def _unreachable(self, actor: _Actor) -> None:
        """The worker did not answer (its connection broke) and the GCS has not declared it
        dead: keep it out of work until a probe says it answers, or that it is dead."""
        if actor.unreachable_since is None:
            actor.unreachable_since = time.monotonic()
        self._suspect.append(actor)

    def _probe_suspects(self, now: float) -> None:
        """Ask each unreachable worker for its pid, at most once a second; give up on one
        unreachable for longer than :data:`START_BOUND_S` (a bound on a hang)."""
        def too_long(actor: _Actor) -> bool:
            since = actor.unreachable_since if actor.unreachable_since is not None else now
            return now - since > START_BOUND_S

        for ref, actor in list(self._probing.items()):  # a probe that never answers
            if too_long(actor):
                del self._probing[ref]
                self._actor_lost(actor, f"unreachable for {START_BOUND_S:.0f} s")
        for actor in list(self._suspect):
            if too_long(actor):
                self._suspect.remove(actor)
                self._actor_lost(actor, f"unreachable for {START_BOUND_S:.0f} s")
            elif now - actor.probed >= 1.0:
                self._suspect.remove(actor)
                actor.probed = now
                self._probing[actor.handle.pid.remote()] = actor

    def _collect_probes(self) -> None:
        ray = self._ray
        for ref, actor in self._resolved(self._probing):
            try:
                ray.get(ref)
            except ray.exceptions.ActorUnavailableError:
                self._suspect.append(actor)  # still unknown: ask again later
                continue
            except ray.exceptions.RayError as exc:
                self._actor_lost(actor, _death_reason(exc))
                continue
            actor.unreachable_since = None
            self._idle.append(actor)

    def _dead_nodes(self) -> set[str]:
        """The nodes the GCS reports dead, added to those already known (none if it does not
        answer)."""
        try:
            self._dead |= {n["NodeID"] for n in self._ray.nodes() if not n.get("Alive", True)}
        except Exception:
            pass
        return self._dead

    def _check_nodes(self) -> None:
        """Give up the workers of nodes the GCS reports dead (asked at most once a second)."""
        now = time.monotonic()
        asked = now - self._nodes_checked >= 1.0
        if asked:
            self._nodes_checked = now
            self._dead_nodes()
        self._give_up_dead()
        if asked:  # after the dead nodes' workers are given up, so they count against no CPU
            self._trim_starting()

    def _give_up_dead(self) -> None:
        """Give up every worker on a node known dead; their running jobs run again."""
        dead = self._dead
        for group in (self._idle, self._suspect):
            for actor in [a for a in group if a.node in dead]:
                group.remove(actor)
                self._actor_lost(actor, "its node died")
        for probe, actor in list(self._probing.items()):
            if actor.node in dead:
                del self._probing[probe]
                self._actor_lost(actor, "its node died")
        for ref, (tries, actor) in list(self._running.items()):
            if actor.node in dead:
                del self._running[ref]
                self._retry(tries, actor, "Ray worker died: its node died")
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
        self._queue.append(_Tries(job))
        self._dispatch()

    def _pick(self, tries: _Tries) -> _Actor:
        """An idle worker for ``tries``: one on a node where none of its runs was lost, if any."""
        for i in range(len(self._idle) - 1, -1, -1):
            if self._idle[i].node not in tries.lost_on:
                return self._idle.pop(i)
        return self._idle.pop()

    def _dispatch(self) -> None:
        while self._queue and self._idle:
            tries = self._queue.popleft()
            job, actor = tries.job, self._pick(tries)
            ref = actor.handle.run.remote(job.kind, job.payload, list(job.keys), self._board)
            self._running[ref] = (tries, actor)

    def _retry(self, tries: _Tries, actor: _Actor, reason: str) -> None:
        """A run of ``tries`` was lost with ``actor``: run it again, or fail it when its own
        attempts, or the bound on runs lost with their nodes, are used up."""
        tries.lost_on.append(actor.node)
        charged = tries.charged(self._dead)
        if charged >= self.max_attempts:  # before failing it, ask whether those nodes died
            charged = tries.charged(self._dead_nodes())
        node_losses = len(tries.lost_on) - charged
        if charged >= self.max_attempts:
            failure = f"Ray worker died {charged} times: {reason}"
        elif node_losses >= NODE_LOSS_BOUND:
            failure = f"Ray worker's node died {node_losses} times: {reason}"
        else:
            self._queue.appendleft(tries)
            return
        self._done.append(Done(tries.job.id, failure=failure))

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
        waiting = list(self._running) + list(self._starting) + list(self._probing)
        if waiting and not self._done:
            ray.wait(waiting, num_returns=1, timeout=timeout)
        self._relay()
        self._collect_started()
        self._collect_probes()
        if self._running:
            ready, _ = ray.wait(list(self._running), num_returns=len(self._running), timeout=0)
            for ref in ready:
                tries, actor = self._running.pop(ref)
                try:
                    self._done.append(_done(tries.job, ray.get(ref)))
                    self._idle.append(actor)
                except ray.exceptions.ActorUnavailableError as exc:
                    # The job may or may not have run; it runs again (an attempt), and the
                    # actor, perhaps alive, waits for a probe instead of being killed.
                    self._retry(tries, actor, _death_reason(exc))
                    self._unreachable(actor)
                except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError,
                        ray.exceptions.NodeDiedError, ray.exceptions.ObjectLostError) as exc:
                    reason = _death_reason(exc)
                    if _node_died(exc) and actor.node is not None:
                        # Known before the GCS's node list says so: the run is not charged,
                        # and the node's other workers are given up before any job goes there.
                        self._dead.add(actor.node)
                    self._retry(tries, actor, reason)
                    self._actor_lost(actor, reason)
                except ray.exceptions.RayTaskError as exc:
                    self._idle.append(actor)
                    self._done.append(Done(tries.job.id,
                                           failure=f"worker error: {_last_line(exc)}"))
        self._check_nodes()
        now = time.monotonic()
        self._give_up_starting(now)
        self._probe_suspects(now)
        self._dispatch()
        if not self._live() and (self._queue or self._running):
            self._lost = self._last_loss or self._start_failure or "every worker died"
            while self._queue:
                tries = self._queue.popleft()
                self._done.append(Done(tries.job.id, failure=f"{NO_WORKER_LEFT} ({self._lost})"))
        done, self._done = self._done, []
        return done

    def cancel(self) -> None:
        # Ray cannot force-cancel an actor task; ending the busy actors stops the work.
        for _, actor in list(self._running.values()):
            self._kill(actor)
        self._running.clear()
        self._queue.clear()

    def close(self) -> None:
        # Busy, starting and unreachable actors are ended; only idle ones are pooled.
        for actor in [*(a for _, a in self._running.values()), *self._starting.values(),
                      *self._probing.values(), *self._suspect]:
            self._kill(actor)
        self._running.clear()
        self._starting.clear()
        self._probing.clear()
        self._suspect.clear()
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
