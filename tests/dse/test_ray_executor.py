"""The Ray executor's fault bookkeeping, driven step by step through a scripted stand-in for
Ray: which actor dies how, and when the GCS learns that a node died, are set by the test, so
every interleaving that a loaded machine can produce is replayed exactly, without a cluster
and without waiting for anything.

The exceptions are Ray's own (``ray.exceptions``), built the way the GCS builds them
(``ActorDiedErrorContext`` with ``never_started`` for an actor that died while being placed).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


ray_exceptions = pytest.importorskip("ray.exceptions")
from ray.core.generated.common_pb2 import ActorDiedErrorContext  # noqa: E402

import dse._executors as executors  # noqa: E402
from dse import load_spec  # noqa: E402
from dse._executors import NO_WORKER_LEFT, Job, RayExecutor  # noqa: E402
from dse._pruning import NoPruner  # noqa: E402


PENDING = object()  # an outcome that never resolves (an actor that cannot be placed yet)


def _died(cause: str, never_started: bool = False) -> Exception:
    ctx = ActorDiedErrorContext(error_message=cause, never_started=never_started,
                                actor_id=b"\x01" * 16, class_name="_Worker")
    return ray_exceptions.ActorDiedError(ctx)


# gcs_server's own cause lines (the node's says "died", the process's "is dead").
NODE_DIED = "The actor died because its node has died. Node Id: n1"
WORKER_DIED = "The actor is dead because its worker process has died."


class _Ref:
    def __init__(self, outcome: Any) -> None:
        self.outcome = outcome


class _Method:
    def __init__(self, actor: _Handle, name: str) -> None:
        self.actor, self.name = actor, name

    def remote(self, *args: Any) -> _Ref:
        fates = self.actor.fates.get(self.name, [])
        fate = fates.pop(0) if fates else None
        outcome = fate(*args) if callable(fate) else fate
        if outcome is None:  # success: ready() -> (no error, node); run() -> its keys
            outcome = (None, self.actor.node) if self.name == "ready" else \
                ("value", args[2]) if self.name == "run" else 1
        return _Ref(outcome)


class _Handle:
    def __init__(self, node: str, fates: dict[str, list[Any]]) -> None:
        self.node, self.fates = node, fates
        self.ready, self.run, self.pid = (_Method(self, n) for n in ("ready", "run", "pid"))


class FakeRay:
    """Just the calls :class:`RayExecutor` makes; ``placements`` gives, per actor created in
    order, its node and the outcomes of its calls (missing outcomes succeed). Actors created
    beyond ``placements`` are never placed (no CPU for them yet)."""

    exceptions = ray_exceptions

    def __init__(self, placements: list[tuple[str, dict[str, list[Any]]]], cpus: int) -> None:
        self.placements = placements
        self.cpus = cpus
        self.dead: set[str] = set()
        self.created: list[_Handle] = []
        self.killed: list[_Handle] = []

    # ray.remote(cls).options(...).remote(*args)
    def remote(self, cls: type) -> FakeRay:
        return self

    def options(self, **kwargs: Any) -> FakeRay:
        return self

    def _new_actor(self, *args: Any) -> _Handle:
        n = len(self.created)
        node, fates = self.placements[n] if n < len(self.placements) else \
            ("unplaced", {"ready": [PENDING]})
        handle = _Handle(node, {k: list(v) for k, v in fates.items()})
        self.created.append(handle)
        return handle

    def wait(self, refs: list[_Ref], num_returns: int = 1,
             timeout: float | None = None) -> tuple[list[_Ref], list[_Ref]]:
        ready = [r for r in refs if r.outcome is not PENDING]
        return ready, [r for r in refs if r.outcome is PENDING]

    def get(self, ref: _Ref) -> Any:
        if isinstance(ref.outcome, BaseException):
            raise ref.outcome
        return ref.outcome

    def kill(self, handle: _Handle) -> None:
        self.killed.append(handle)

    def cluster_resources(self) -> dict[str, float]:
        return {"CPU": float(self.cpus)}

    def nodes(self) -> list[dict[str, Any]]:
        names = {h.node for h in self.created}
        return [{"NodeID": n, "Alive": n not in self.dead} for n in sorted(names)]

    def get_runtime_context(self) -> Any:
        class _Ctx:
            @staticmethod
            def get_job_id() -> str:
                return "fake-job"
        return _Ctx()

    def node_died(self, node: str) -> None:
        """The GCS declares ``node`` dead: its CPU leaves the cluster."""
        self.dead.add(node)
        self.cpus -= 1


class _Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def monotonic(self) -> float:
        return self.t

    def perf_counter(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


@pytest.fixture
def make(study_file, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    spec = load_spec(study_file(body="""
        [executor]
        kind = "ray"
        workers = 2
    """))

    def build(placements: list[tuple[str, dict[str, list[Any]]]], cpus: int = 2,
              workers: int = 2) -> tuple[RayExecutor, FakeRay, _Clock]:
        fake, clock = FakeRay(placements, cpus), _Clock()
        fake.remote = lambda cls: fake  # type: ignore[method-assign]
        fake.options = lambda **kw: type("C", (), {"remote": staticmethod(fake._new_actor)})  # type: ignore[method-assign]
        monkeypatch.setattr(executors, "_ray", lambda: fake)
        monkeypatch.setattr(executors, "ensure_ray", lambda workers, address: 0.0)
        monkeypatch.setattr(executors, "_POOL", {})
        monkeypatch.setattr(executors, "time", clock)
        return RayExecutor(spec, workers, NoPruner(), relay=False), fake, clock

    return build


def _drain(ex: RayExecutor, clock: _Clock, jobs: int, steps: int = 20,
           between: Callable[[int], None] | None = None) -> dict[int, Any]:
    """Poll (each poll a simulated 1.5 s later) until ``jobs`` jobs are done."""
    done: dict[int, Any] = {}
    for step in range(steps):
        if between is not None:
            between(step)
        for d in ex.poll(timeout=0.05):
            done[d.job] = d
        clock.t += 1.5
        if len(done) == jobs:
            break
    return done


def test_a_replacement_cancelled_before_it_started_is_not_the_last_worker_lost(make) -> None:  # type: ignore[no-untyped-def]
    # The reported failure: n1's worker dies with its node; the GCS does not know yet, so a
    # replacement is placed on n1 and then cancelled "before it started running" when the GCS
    # declares n1 dead. n2's worker is alive all along: the job runs again there.
    ex, fake, clock = make([
        ("n1", {"run": [_died(WORKER_DIED)]}),
        ("n2", {"run": [PENDING]}),  # busy with its own job for a while
        ("n1", {"ready": [_died(NODE_DIED, never_started=True)]}),  # the replacement
    ])
    ex.submit(Job(1, "batch", None, (1,)))  # goes to the last idle actor: n2
    ex.submit(Job(0, "batch", None, (0,)))  # n1: dies with its node
    assert [h.node for h in fake.created] == ["n1", "n2"]

    def gcs(step: int) -> None:
        if step == 1:
            fake.node_died("n1")
        if step == 3:  # n2 finishes its own job
            busy = [r for r, (tries, _) in ex._running.items() if tries.job.id == 1]
            busy[0].outcome = ("value", (1,))

    done = _drain(ex, clock, jobs=2, between=gcs)
    assert fake.created[2].node == "n1"  # the replacement was indeed tried
    assert ex.lost is None
    assert sorted(done) == [0, 1] and all(d.failure is None for d in done.values())
    assert fake.created[1] not in fake.killed  # n2's worker is never given up


def _finish(ex: RayExecutor, job_id: int) -> None:
    """The running job ``job_id`` returns its value."""
    ref = next(r for r, (tries, _) in ex._running.items() if tries.job.id == job_id)
    ref.outcome = ("value", (job_id,))


@pytest.mark.parametrize("first_death", [NODE_DIED, WORKER_DIED])
def test_runs_lost_with_a_node_use_up_no_attempt(make, first_death: str) -> None:  # type: ignore[no-untyped-def]
    # n1 has two workers and dies under a job. When the first death names the node, n1's idle
    # worker is given up at once and never gets the job. When it reads as the process's (the
    # GCS does not know yet), the retry lands on n1's other worker, the only idle one, which
    # then dies with the node: both runs were lost with the node, so neither is charged. Either
    # way the job waits for n2's worker and completes there.
    ex, fake, clock = make([
        ("n1", {"run": [_died(NODE_DIED)]}),
        ("n1", {"run": [_died(first_death)]}),
        ("n2", {"run": [PENDING]}),
    ], cpus=3, workers=3)
    ex.submit(Job(1, "batch", None, (1,)))  # n2, busy
    ex.submit(Job(0, "batch", None, (0,)))  # n1's second worker
    done = _drain(ex, clock, jobs=2, between=lambda step: step == 2 and _finish(ex, 1))
    assert sorted(done) == [0, 1] and all(d.failure is None for d in done.values())
    assert fake.created[0] in fake.killed
    assert ex.lost is None


@pytest.mark.parametrize("earlier_node_losses", [0, executors.NODE_LOSS_BOUND - 1])
def test_a_value_returned_in_the_poll_of_a_node_death_on_its_node_is_kept(
        make, earlier_node_losses: int) -> None:  # type: ignore[no-untyped-def]
    # Two workers on n1: in one poll one's run dies with the node while the other's has
    # already returned. That value is delivered, not dropped and run again (which, for a job
    # already near the bound on node losses, would even fail it).
    ex, fake, clock = make([("n1", {"run": [PENDING]}), ("n1", {"run": [PENDING]})])
    ex.submit(Job(0, "batch", None, (0,)))
    ex.submit(Job(1, "batch", None, (1,)))
    (dies, _), (returns, (tries, _)) = list(ex._running.items())
    tries.lost_on.extend(f"gone{i}" for i in range(earlier_node_losses))
    ex._dead |= set(tries.lost_on)
    dies.outcome = _died(NODE_DIED)
    returns.outcome = ("value", (tries.job.id,))
    done = {d.job: d for d in ex.poll(timeout=0.0)}
    assert done[tries.job.id].failure is None
    assert done[tries.job.id].value == ("value", (tries.job.id,))


def test_a_job_that_crashes_its_worker_fails_after_its_attempts_on_two_nodes(make) -> None:  # type: ignore[no-untyped-def]
    # A worker process dying under the job on each node (the nodes live on): the retry goes to
    # the other node's worker, and after max_attempts the job fails with the reason.
    ex, fake, clock = make([
        ("n1", {"run": [_died(WORKER_DIED)]}),
        ("n2", {"run": [_died(WORKER_DIED)]}),
    ])
    ex.submit(Job(0, "batch", None, (0,)))
    done = _drain(ex, clock, jobs=1)
    assert done[0].failure.startswith("Ray worker died 2 times: ActorDiedError: The actor is "
                                      "dead because its worker process has died")
    assert {fake.created[0], fake.created[1]} <= set(fake.killed)


def test_a_job_that_brings_down_every_node_it_runs_on_fails_after_the_bound(make) -> None:  # type: ignore[no-untyped-def]
    # A cluster that replaces each dead node: the job's runs use up none of its attempts, but
    # it fails after NODE_LOSS_BOUND of them instead of running forever.
    ex, fake, clock = make([(f"n{i}", {"run": [_died(NODE_DIED)]})
                            for i in range(executors.NODE_LOSS_BOUND + 2)], cpus=1, workers=1)
    ex.submit(Job(0, "batch", None, (0,)))
    done = _drain(ex, clock, jobs=1)
    assert done[0].failure.startswith(
        f"Ray worker's node died {executors.NODE_LOSS_BOUND} times: ActorDiedError: The actor "
        "died because its node has died")
    assert len(fake.created) == executors.NODE_LOSS_BOUND + 1  # a replacement stands ready


def test_an_unreachable_worker_is_probed_not_killed(make) -> None:  # type: ignore[no-untyped-def]
    # A call to a live worker fails with ActorUnavailableError (its connection broke under
    # load): the job runs again, the worker answers the probe and keeps working.
    unavailable = ray_exceptions.ActorUnavailableError("connection reset", b"\x01" * 16)
    ex, fake, clock = make([("n1", {"run": [unavailable], "pid": [unavailable]})], cpus=1,
                           workers=1)
    ex.submit(Job(0, "batch", None, (0,)))
    done = _drain(ex, clock, jobs=1)
    assert done[0].failure is None and done[0].value == ("value", [0])
    assert fake.killed == [] and len(fake.created) == 1
    assert ex.lost is None and ex.capacity == 1


def test_the_last_worker_lost_names_its_node_not_a_cancelled_replacement(make) -> None:  # type: ignore[no-untyped-def]
    # One node: its worker dies, a replacement is placed before the GCS knows and is then
    # cancelled; no CPU is left, so the job fails with the real reason: the node died.
    ex, fake, clock = make([
        ("n1", {"run": [_died(NODE_DIED)]}),
        ("n1", {"ready": [PENDING]}),
    ], cpus=1, workers=1)
    ex.submit(Job(0, "batch", None, (0,)))

    def gcs(step: int) -> None:
        if step == 1:
            fake.node_died("n1")
            replacement = next(r for r, a in ex._starting.items()
                               if a.handle is fake.created[1])
            replacement.outcome = _died(NODE_DIED, never_started=True)

    done = _drain(ex, clock, jobs=1, between=gcs)
    assert ex.lost is not None and "its node has died" in ex.lost and "never ran" not in ex.lost
    assert done[0].failure.startswith(NO_WORKER_LEFT)
    assert ex.capacity == 0


def test_a_worker_that_does_not_come_back_is_given_up_when_its_node_is_declared_dead(make) -> None:  # type: ignore[no-untyped-def]
    # Unreachable, and its probe hangs; when the GCS declares its node dead it is lost, and
    # the job (already requeued) runs on the other node's worker.
    unavailable = ray_exceptions.ActorUnavailableError("connection reset", b"\x01" * 16)
    ex, fake, clock = make([
        ("n1", {"run": [unavailable], "pid": [PENDING]}),
        ("n2", {"run": [PENDING]}),
    ], cpus=2)
    ex.submit(Job(1, "batch", None, (1,)))  # n2, busy
    ex.submit(Job(0, "batch", None, (0,)))  # n1, unreachable

    def gcs(step: int) -> None:
        if step == 2:
            fake.node_died("n1")
        if step == 4:
            busy = [r for r, (tries, _) in ex._running.items() if tries.job.id == 1]
            busy[0].outcome = ("value", (1,))

    done = _drain(ex, clock, jobs=2, between=gcs)
    assert sorted(done) == [0, 1] and all(d.failure is None for d in done.values())
    assert fake.created[0] in fake.killed and fake.created[1] not in fake.killed
    assert ex.lost is None


def test_workers_set_up_failing_on_a_dead_node_are_no_build_error(make, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # At start-up a worker cancelled before it ran is not "cannot build the study's models":
    # with no worker at all the one line says none started, and why.
    with pytest.raises(executors.DseError, match="no Ray worker started.*its node has died"):
        make([("n1", {"ready": [_died(NODE_DIED, never_started=True)]})], cpus=1, workers=1)


class _StartingRay:
    """``ray.init`` failing as given (one exception, or None for success) per call."""

    def __init__(self, outcomes: list[Exception | None]) -> None:
        self.outcomes = outcomes
        self.calls: list[str] = []

    def init(self, **kwargs: Any) -> None:
        self.calls.append("init")
        outcome = self.outcomes.pop(0)
        if outcome is not None:
            raise outcome

    def shutdown(self) -> None:
        self.calls.append("shutdown")


STARTUP_TIMEOUT = RuntimeError("The current node timed out during startup. This could happen "
                               "because some of the raylet failed to startup")


def test_a_local_start_that_timed_out_is_tried_once_more_from_a_clean_shutdown() -> None:
    ray = _StartingRay([STARTUP_TIMEOUT, None])
    executors._start_local(ray, 2)
    assert ray.calls == ["init", "shutdown", "init"]


@pytest.mark.parametrize("outcomes", [[STARTUP_TIMEOUT, STARTUP_TIMEOUT],
                                      [ValueError("num_cpus must be positive")]])
def test_a_local_start_fails_after_its_retry_or_at_once_on_another_error(
        outcomes: list[Exception | None]) -> None:
    ray = _StartingRay(list(outcomes))
    with pytest.raises(type(outcomes[0])):
        executors._start_local(ray, 2)
    assert ray.calls.count("init") == len(outcomes)
