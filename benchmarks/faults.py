"""Fault campaign: kill, interrupt, damage and race ``dse run``, then count what was lost.

Usage::

    .venv/bin/python -m benchmarks.faults [--count 20] [--postgres URL] [--skip-ray]

Each case starts real ``dse run`` processes on the demo model and injects one fault:

* **kill -9 / SIGINT at a random moment** (uniform over the run's expected duration, start-up
  included), in trial mode and sweep mode, on a journal file and on PostgreSQL. The study is
  re-run after each fault (the next fault may hit the re-run), and finished at the end.
* **a killed Ray node**: a real second Ray node (its own ``ray start`` process group) is
  killed with SIGKILL while a ``--workers 2 --ray-address`` run has a job on it.
* **journal damage**: a torn last record, a garbage last line, a zeroed 4 KiB block in the
  middle; then ``dse status`` and ``dse run`` on the damaged journal.
* **concurrent drivers**: two drivers on one journal, four on a fresh PostgreSQL database;
  two drivers sweeping one study (journal and PostgreSQL).

Then the study is audited against what the storage held before the fault:

* *lost*: trials COMPLETE before a fault that are missing or changed after (trial mode), or
  front points of a clean reference sweep that were never recorded (sweep mode);
* *duplicated*: COMPLETE trials whose parameters repeat another's (the random sampler on a
  continuous space never repeats by chance), or sweep points recorded twice;
* *over budget*: finished trials beyond ``n_trials``;
* *tracebacks*: processes whose stderr holds a Python traceback (those of a Ctrl-C while the
  interpreter imports its ``site`` module, before any dse code runs, counted apart);
* *what the user sees*: the most common first stderr line of the faulted processes.

The helpers (``start``, ``kill_when``, ``journal_lines``, ``audit_*``...) are shared with
``tests/dse/test_faults.py``, which runs one small case of each fault deterministically (a kill
lands when the journal has N lines, polled, not after a sleep). Results: ``docs/reliability.md``.
"""

from __future__ import annotations

import argparse
import collections
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


ROOT = Path(__file__).resolve().parent.parent


__all__ = [
    "Outcome", "audit_sweep", "audit_trials", "checkpointed", "complete_trials", "dse",
    "ended_or", "fresh_postgres", "has_trials", "journal_lines", "kill_when", "start",
    "wait_until", "write_study",
]


# -- study files and processes -------------------------------------------------------------------
def write_study(folder: Path, mode: str = "trial", n_trials: int = 40, name: str = "faults",
                delay_s: float = 0.01) -> Path:
    """A demo study file: random sampler (trial mode) or a 2,244-point exhaustive sweep."""
    body = f"""
        [study]
        name = "{name}"
        mode = "{mode}"
        seed = 1

        [models.demo]
        model = "demo"
        options = {{ delay_s = {delay_s} }}

        [space]
        domains = ["demo"]

        [[objectives]]
        metric = "demo.f1"

        [[objectives]]
        metric = "demo.f2"

    """
    if mode == "trial":
        body += f"""
        [sampler]
        name = "random"

        [budget]
        n_trials = {n_trials}
        """
    else:
        body += """
        [space.override]
        "demo.x" = { steps = 51 }
        "demo.y" = { steps = 11 }

        [sweep]
        chunk_size = 250
        sample_rest = 30
        save = "all"
        """
    path = folder / f"{name}.toml"
    path.write_text(textwrap.dedent(body))
    return path


def dse(*args: str) -> list[str]:
    """The command line running ``dse`` with this interpreter."""
    return [sys.executable, "-m", "dse.cli", *args]


def start(study: Path, storage: str, *extra: str,
          cwd: Path | None = None) -> subprocess.Popen[str]:
    """``dse run STUDY --storage STORAGE --quiet`` in the background."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(dse("run", str(study), "--storage", storage, "--quiet", *extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=cwd or study.parent, env=env, preexec_fn=_default_sigint)


def _default_sigint() -> None:
    # A campaign (or CI) started in the background inherits SIGINT ignored, and so would the
    # run; a user's Ctrl-C reaches a foreground `dse run`, so the child gets the default.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run(study: Path, storage: str, *extra: str,
        timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``dse run`` to completion."""
    proc = start(study, storage, *extra)
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def journal_lines(path: Path) -> int:
    """Whole records in a journal file so far (0 before it exists)."""
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def kill_when(proc: subprocess.Popen[str], sig: int, ready: Callable[[], bool],
              timeout: float = 300, every: float = 0.01) -> bool:
    """Send ``sig`` to ``proc`` once ``ready()`` holds; False if it ended first."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if ready():
            try:
                os.kill(proc.pid, sig)
            except ProcessLookupError:
                return False
            return True
        time.sleep(every)
    return False


def wait_until(ready: Callable[[], bool], timeout: float = 300, every: float = 0.05) -> bool:
    """Poll ``ready()`` until it holds (True) or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return True
        time.sleep(every)
    return False


def after(seconds: float) -> Callable[[], bool]:
    """A ``ready`` predicate true ``seconds`` from now (the campaign's random moments)."""
    at = time.monotonic() + seconds
    return lambda: time.monotonic() >= at


def once_then(first: Callable[[], bool], seconds: float,
              every: float = 0.05) -> Callable[[], bool]:
    """A ``ready`` predicate true ``seconds`` after ``first()`` first holds (asked at most
    every ``every`` s, since it may read the storage)."""
    state: dict[str, float] = {}

    def ready() -> bool:
        now = time.monotonic()
        if "at" not in state:
            if now - state.get("asked", -1e9) < every:
                return False
            state["asked"] = now
            if not first():
                return False
            state["at"] = now + seconds
        return now >= state["at"]

    return ready


def ended_or(proc: subprocess.Popen[str], ready: Callable[[], bool]) -> Callable[[], bool]:
    """A ``ready`` predicate true once ``proc`` ended or ``ready()`` holds."""
    return lambda: proc.poll() is not None or ready()


def has_trials(storage: str, name: str, n: int) -> Callable[[], bool]:
    """A ``ready`` predicate true once study ``name`` holds ``n`` COMPLETE trials."""
    return lambda: len(complete_trials(storage, name)) >= n


def checkpointed(study: Path, storage: str, name: str) -> Callable[[], bool]:
    """A ``ready`` predicate true once the sweep of ``name``, run from the study file
    ``study``'s folder, has a durable chunk (its checkpoint exists)."""
    from dse._artifacts import artifacts_dir
    from dse._sweep import sweep_files

    return sweep_files(study.parent / artifacts_dir(storage, name))["checkpoint"].exists


# -- audits ---------------------------------------------------------------------------------------
def _study(storage: str, name: str):  # type: ignore[no-untyped-def]
    import optuna

    from dse import open_storage

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna.load_study(study_name=name, storage=open_storage(storage))


def complete_trials(storage: str, name: str) -> dict[int, tuple]:
    """number -> (params, values) of every COMPLETE trial (empty when the study is missing)."""
    from optuna.trial import TrialState

    try:
        study = _study(storage, name)
    except (KeyError, ValueError):
        return {}
    return {t.number: (tuple(sorted(t.params.items())), tuple(t.values))
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))}


@dataclass
class Outcome:
    """What a fault cost."""

    lost: int = 0
    duplicated: int = 0
    over_budget: int = 0


def audit_trials(before: dict[int, tuple], storage: str, name: str, n_trials: int) -> Outcome:
    """Trial mode: COMPLETE trials lost or changed since ``before``, duplicates, overshoot."""
    from dse._study import counted_trials

    after_ = complete_trials(storage, name)
    lost = sum(1 for n, v in before.items() if after_.get(n) != v)
    params = [p for p, _ in after_.values()]
    over = max(0, counted_trials(_study(storage, name)) - n_trials)
    return Outcome(lost, len(params) - len(set(params)), over)


def sweep_points(storage: str, name: str) -> list[tuple]:
    """Parameters of every trial recorded by a sweep (front and sample)."""
    return [p for p, _ in complete_trials(storage, name).values()]


def audit_sweep(reference: set[tuple], storage: str, name: str) -> Outcome:
    """Sweep mode: reference front points never recorded, and points recorded twice."""
    from optuna.trial import TrialState

    study = _study(storage, name)
    front = {tuple(sorted(t.params.items())) for t in study.get_trials(
        deepcopy=False, states=(TrialState.COMPLETE,)) if t.user_attrs.get("dse.pareto")}
    points = sweep_points(storage, name)
    return Outcome(len(reference - front), len(points) - len(set(points)))


@contextmanager
def fresh_postgres(base: str) -> Iterator[str]:
    """A URL to a fresh, empty schema of the PostgreSQL database ``base`` (dropped after)."""
    import sqlalchemy

    schema = f"dse_faults_{uuid.uuid4().hex[:10]}"
    engine = sqlalchemy.create_engine(base)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


# -- the campaign ---------------------------------------------------------------------------------
TRACEBACKS: Path | None = None  # --tracebacks: where each traceback's stderr is appended


@dataclass
class Row:
    """One line of the fault matrix."""

    fault: str
    how: str
    count: int = 0
    lost: int = 0
    duplicated: int = 0
    over_budget: int = 0
    tracebacks: int = 0
    startup_tracebacks: int = 0
    seen: collections.Counter[str] = field(default_factory=collections.Counter)
    # The whole stderr of each process that printed a traceback (the campaign keeps them).
    traces: list[str] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        self.lost += outcome.lost
        self.duplicated += outcome.duplicated
        self.over_budget += outcome.over_budget

    def saw(self, *stderrs: str) -> None:
        for err in stderrs:
            if "Traceback (most recent call last)" in err:
                # A Ctrl-C while the interpreter imports its site module, before any dse code
                # runs, is Python's own fatal error: counted apart.
                if "init_import_site" in err:
                    self.startup_tracebacks += 1
                else:
                    self.tracebacks += 1
                self.traces.append(err)
                if TRACEBACKS is not None:  # kept as they come: a campaign cut short keeps them
                    with TRACEBACKS.open("a") as fh:
                        fh.write(f"## {self.fault}\n{err}\n")
            first = next((ln for ln in err.splitlines() if ln.strip()), "(nothing)")
            self.seen[_shorten(first)] += 1

    def cells(self) -> list[str]:
        seen = "; ".join(f"{line} ({n})" for line, n in self.seen.most_common(2))
        return [self.fault, self.how, str(self.count), str(self.lost), str(self.duplicated),
                str(self.over_budget), str(self.tracebacks)
                + (f" (+{self.startup_tracebacks} in Python's start-up)"
                   if self.startup_tracebacks else ""), seen]


def _shorten(line: str) -> str:
    for marker in ("/tmp/", "postgresql+psycopg://"):
        if marker in line:
            head, _, tail = line.partition(marker)
            line = head + "…" + tail.split(" ", 1)[-1] if " " in tail else head + "…"
    return line[:110]


def _storage_for(kind: str, folder: Path, pg: str | None) -> Iterator[str]:
    if kind == "journal":
        yield str(folder / "studies.journal")
    else:
        assert pg is not None
        with fresh_postgres(pg) as url:
            yield url


def signal_case(row: Row, mode: str, kind: str, sig: int, count: int, pg: str | None,
                rng: random.Random, mid_run: bool = False) -> None:
    """``count`` faults at random moments on one study per storage, each followed by a re-run.

    With ``mid_run`` the moment is uniform over the part of the run after its first new trial
    (trial mode: over 8 s) or its first durable chunk (sweep mode: over the rest of a clean
    run) instead of over the whole run, so none lands in start-up however slow it is.
    """
    # Trial mode: more than a run does in the window even on an idle machine, few enough for
    # the finishing run to end in minutes on a loaded one (300 took over 600 s on PostgreSQL at
    # load 20); each study takes faults until a run finishes first. Sweep mode: unused.
    n_trials = 150
    with tempfile.TemporaryDirectory(prefix="dse-faults-") as tmp:
        folder = Path(tmp)
        for storage in _storage_for(kind, folder, pg):
            window, reference = _fault_window(folder, mode, mid_run)
            k = 0
            serial = 0
            while k < count:
                name = f"s{serial}"
                study = write_study(folder, mode, n_trials=n_trials, name=name)
                before: dict[int, tuple] = {}
                while k < count:
                    proc = start(study, storage)
                    moment = rng.uniform(0.0, window)
                    ready = after(moment) if not mid_run else once_then(
                        has_trials(storage, name, len(before) + 1) if mode == "trial"
                        else checkpointed(study, storage, name), moment)
                    hit = kill_when(proc, sig, ready)
                    out, err = proc.communicate(timeout=600)
                    if not hit:  # the run finished first: this study is done
                        break
                    k += 1
                    row.count += 1
                    row.saw(err)
                    if mode == "trial":
                        now = complete_trials(storage, name)
                        row.add(Outcome(lost=sum(1 for n, v in before.items()
                                                 if now.get(n) != v)))
                        before = now
                done = run(study, storage, timeout=3600)
                row.saw(*(e for e in [done.stderr] if "Traceback" in e))
                if mode == "trial":
                    row.add(audit_trials(before, storage, name, n_trials))
                else:
                    row.add(audit_sweep(reference, storage, name))
                serial += 1


def _fault_window(folder: Path, mode: str, mid_run: bool) -> tuple[float, set[tuple]]:
    """The span signal moments are drawn over, and (sweep mode) a clean run's front.

    The moments are uniform over a run's length under the load of the moment: a clean run of
    the same study (sweep), or start-up plus 8 s of trials (trial), so a loaded machine's slow
    start-up does not take most of the faults. Mid-run they start at the run's first new
    trial (8 s) or first durable chunk (the rest of a clean run).
    """
    if mid_run and mode == "trial":
        return 8.0, set()
    ref_storage = str(folder / "reference.journal")
    ref_study = write_study(folder, mode, name="reference", n_trials=1)
    t0 = time.monotonic()
    if mid_run:  # sweep mode: the clean run's length after its first chunk
        ref = start(ref_study, ref_storage)
        wait_until(ended_or(ref, checkpointed(ref_study, ref_storage, "reference")), every=0.01)
        t0 = time.monotonic()
        ref.communicate(timeout=600)
    else:
        run(ref_study, ref_storage)
    if mode == "trial":
        return time.monotonic() - t0 + 8.0, set()
    return time.monotonic() - t0, {tuple(sorted(t.params.items()))
                                   for t in _study(ref_storage, "reference").best_trials}


def ray_case(row: Row, count: int) -> None:
    """Kill a real second Ray node mid-study, ``count`` times.

    A head node (1 CPU) and a second node (1 CPU) run as separate ``ray start --block``
    processes, each in its own process group; a ``--workers 2 --ray-address HEAD`` trial run
    has one worker on each. Once the run has 5 COMPLETE trials the second node's whole process
    group (its ``ray start``, raylet, agents) gets SIGKILL, as a machine losing power would:
    the driver must notice, run the lost job again on the head's worker and finish the study.
    A fresh second node joins before the next repetition. Only these processes are ever
    signalled (never ``ray stop``, which would end every Ray cluster on the machine).
    """
    import ray

    # A token in ~/.ray makes `ray start` turn token authentication on, which a driver that
    # was not given the token cannot join: the campaign's cluster is local and open, like the
    # one `--workers` starts. Set before the head starts; the drivers inherit it.
    os.environ["RAY_AUTH_MODE"] = "disabled"
    with tempfile.TemporaryDirectory(prefix="dse-faults-") as tmp, _ray_head(Path(tmp)) as head:
        folder = Path(tmp)
        ray.init(address=head, log_to_driver=False, logging_level=logging.ERROR)
        try:
            for i in range(count):
                node = _ray_node(head, folder / f"node{i}.log")
                try:
                    if not wait_until(lambda: _alive_cpu_nodes(ray) >= 2, timeout=300):
                        row.saw("(the second node never joined)")
                        continue
                    storage = str(folder / f"ray{i}.journal")
                    study = write_study(folder, "trial", n_trials=30, name=f"ray{i}",
                                        delay_s=0.2)
                    proc = start(study, storage, "--workers", "2", "--ray-address", head)
                    killed = wait_until(ended_or(proc, has_trials(storage, f"ray{i}", 5)),
                                        every=0.2)
                    killed = killed and proc.poll() is None
                    if killed:
                        os.killpg(node.pid, signal.SIGKILL)
                    try:
                        out, err = proc.communicate(timeout=600)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        out, err = proc.communicate()
                        err += "\n(hung: killed after 600 s)"
                    row.count += killed
                    row.saw(err if err.strip() or proc.returncode == 0
                            else f"(exit {proc.returncode}, nothing on stderr)")
                    done = run(study, storage)
                    row.saw(*(e for e in [done.stderr] if "Traceback" in e))
                    row.add(audit_trials({}, storage, f"ray{i}", 30))
                finally:
                    _end_group(node)
        finally:
            ray.shutdown()


def _ray_start(*args: str, log: Path) -> subprocess.Popen[bytes]:
    """``ray start ... --block`` in a process group of its own (the group is the node)."""
    ray_cli = Path(sys.executable).with_name("ray")
    with log.open("wb") as out:
        return subprocess.Popen([str(ray_cli), "start", *args, "--num-cpus", "1", "--block",
                                 "--disable-usage-stats"], stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _end_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


@contextmanager
def _ray_head(folder: Path) -> Iterator[str]:
    """A Ray head node on a free loopback port, for the whole case; its address."""
    import socket

    with socket.socket() as probe:  # a free port (the head binds it a moment later)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    head = _ray_start("--head", f"--port={port}", "--node-ip-address=127.0.0.1",
                      "--include-dashboard=false", log=folder / "head.log")
    try:
        address = f"127.0.0.1:{port}"

        def answers() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                return head.poll() is not None

        wait_until(answers, timeout=300, every=0.5)
        if head.poll() is not None:
            raise RuntimeError(f"the Ray head did not start: {(folder / 'head.log').read_text()}")
        yield address
    finally:
        _end_group(head)


def _ray_node(head: str, log: Path) -> subprocess.Popen[bytes]:
    """A second Ray node (1 CPU) joining ``head``."""
    return _ray_start(f"--address={head}", "--node-ip-address=127.0.0.1", log=log)


def _alive_cpu_nodes(ray: Any) -> int:
    return sum(1 for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU"))


_RAY_AGENTS = (b"ray::DashboardAgent", b"ray::RuntimeEnvAgent")


def _ray_workers(driver: int) -> list[int]:
    """PIDs of the Ray worker processes (``ray::...``) of the cluster ``driver`` started.

    Only the driver's descendants: a local cluster started by ``--workers`` runs under the
    driver, and processes of any other Ray cluster on the machine are never touched.
    """
    parent: dict[int, int] = {}
    cmdline: dict[int, bytes] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_bytes()
            cmdline[int(entry.name)] = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent[int(entry.name)] = int(stat[stat.rfind(b")") + 2:].split()[1])
    pids = []
    for pid, cmd in cmdline.items():
        # Ray's agents retitle themselves ray::DashboardAgent and ray::RuntimeEnvAgent; they
        # are no workers, and the raylet fate-shares with them: killing one ends the node.
        if not cmd.startswith(b"ray::") or b"IDLE" in cmd or cmd.startswith(_RAY_AGENTS):
            continue
        p = pid
        while p in parent and p not in (0, 1, driver):
            p = parent[p]
        if p == driver:
            pids.append(pid)
    return pids


def damage_case(row: Row, damage: str, count: int) -> None:
    """Damage a 40-trial journal, then ``dse status`` and a ``dse run`` to 50 trials."""
    with tempfile.TemporaryDirectory(prefix="dse-faults-") as tmp:
        folder = Path(tmp)
        for i in range(count):
            journal = folder / f"d{i}.journal"
            study = write_study(folder, "trial", n_trials=40, name=f"d{i}", delay_s=0.0)
            run(study, str(journal))
            before = complete_trials(str(journal), f"d{i}")
            data = bytearray(journal.read_bytes())
            if damage == "torn tail":
                data += b'{"op_code":6,"worker_id":"w","trial_id":3,"st'
            elif damage == "garbage tail":
                data += b"\x00\x00\x17 not a record \xff\n"
            else:
                at = len(data) // 2
                data[at:at + 4096] = bytes(4096)
            journal.write_bytes(bytes(data))
            status = subprocess.run(dse("status", "--storage", str(journal)), text=True,
                                    capture_output=True, timeout=300,
                                    env=dict(os.environ, PYTHONPATH=str(ROOT)))
            resumed = run(study, str(journal), "--n-trials", "50")
            row.count += 1
            row.saw(status.stderr, resumed.stderr)
            outcome = audit_trials(before, str(journal), f"d{i}", 50)
            row.add(outcome)


def concurrent_case(row: Row, kind: str, drivers: int, count: int, pg: str | None) -> None:
    """``drivers`` drivers started together on one study (a fresh database for PostgreSQL)."""
    with tempfile.TemporaryDirectory(prefix="dse-faults-") as tmp:
        folder = Path(tmp)
        for i in range(count):
            (folder / f"c{i}").mkdir()
            for storage in _storage_for(kind, folder / f"c{i}", pg):
                study = write_study(folder, "trial", n_trials=40, name=f"c{i}")
                procs = [start(study, storage) for _ in range(drivers)]
                for p in procs:
                    _, err = p.communicate(timeout=600)
                    row.saw(err if err.strip() else f"(exit {p.returncode}, nothing on stderr)")
                row.count += 1
                row.add(audit_trials({}, storage, f"c{i}", 40))


def concurrent_sweep_case(row: Row, kind: str, drivers: int, count: int,
                          pg: str | None) -> None:
    """``drivers`` drivers started together sweeping one study: recorded once, all exit 0."""
    with tempfile.TemporaryDirectory(prefix="dse-faults-") as tmp:
        folder = Path(tmp)
        ref_storage = str(folder / "reference.journal")
        run(write_study(folder, "sweep", name="reference"), ref_storage)
        reference = {tuple(sorted(t.params.items())) for t in _study(
            ref_storage, "reference").best_trials}
        for i in range(count):
            (folder / f"w{i}").mkdir()
            for storage in _storage_for(kind, folder / f"w{i}", pg):
                study = write_study(folder, "sweep", name=f"w{i}")
                procs = [start(study, storage) for _ in range(drivers)]
                for p in procs:
                    _, err = p.communicate(timeout=600)
                    row.saw(err if err.strip() else f"(exit {p.returncode}, nothing on stderr)")
                row.count += 1
                row.add(audit_sweep(reference, storage, f"w{i}"))


def _plain_optuna_write_s(journal: Path, name: str) -> float:
    """Seconds a plain Optuna process (JournalFileBackend, its symlink lock) takes to write."""
    code = ("import time, optuna; from optuna.storages import JournalStorage; "
            "from optuna.storages.journal import JournalFileBackend; "
            "optuna.logging.set_verbosity(optuna.logging.ERROR); "
            f"s = optuna.load_study(study_name={name!r}, storage=JournalStorage("
            f"JournalFileBackend({str(journal)!r}))); t = time.monotonic(); "
            "s.set_user_attr('plain', 1); print(time.monotonic() - t)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    return float(done.stdout.strip() or "nan")


def stale_lock_case(count: int, rng: random.Random) -> str:
    """kill -9 of a trial run on a journal, then a plain Optuna writer: how often the kill left
    Optuna's symlink lock, and what the plain writer waited with and without a dse command
    (``dse status``) in between."""
    left = 0
    direct: list[float] = []
    after_dse: list[float] = []
    with tempfile.TemporaryDirectory(prefix="dse-faults-") as tmp:
        folder = Path(tmp)
        for i in range(count):
            journal = folder / f"l{i}.journal"
            study = write_study(folder, "trial", n_trials=300, name=f"l{i}")
            proc = start(study, str(journal))
            hit = kill_when(proc, signal.SIGKILL, after(rng.uniform(0.5, 8.0)))
            proc.communicate(timeout=600)
            if not hit or not os.path.lexists(f"{journal}.lock"):
                continue
            left += 1
            if not direct:  # Optuna's grace period is 30 s: measured once
                direct.append(_plain_optuna_write_s(journal, f"l{i}"))
                continue
            subprocess.run(dse("status", "--storage", str(journal)), capture_output=True,
                           timeout=300, env=dict(os.environ, PYTHONPATH=str(ROOT)))
            after_dse.append(_plain_optuna_write_s(journal, f"l{i}"))
    waits = ", ".join(f"{w:.1f} s" for w in direct) or "not measured"
    later = f"at most {max(after_dse):.2f} s" if after_dse else "not measured"
    return (f"stale lock: {left} of {count} kill -9 left Optuna's symlink lock; a plain "
            f"Optuna writer right after waited {waits}; after a dse command {later} "
            f"({len(after_dse)} cases)")


def main(argv: Sequence[str] | None = None) -> int:
    from benchmarks._common import machine_line

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=20, help="faults per kill/SIGINT case")
    ap.add_argument("--postgres", default=os.environ.get("DSE_TEST_POSTGRES_URL"),
                    help="PostgreSQL URL for the server cases (default $DSE_TEST_POSTGRES_URL)")
    ap.add_argument("--skip-ray", action="store_true")
    ap.add_argument("--skip-damage", action="store_true", help="no journal-damage cases")
    ap.add_argument("--ray-count", type=int, default=20, help="second Ray nodes to kill")
    ap.add_argument("--kinds", default="journal,postgresql",
                    help="storages for the signal and concurrency cases (comma list)")
    ap.add_argument("--signals-only", action="store_true",
                    help="only the kill -9 / SIGINT cases (to split a campaign over processes)")
    ap.add_argument("--modes", default="trial,sweep",
                    help="modes of the signal cases (comma list)")
    ap.add_argument("--signals", default="kill,int",
                    help="signals of the signal cases: kill (-9), int (SIGINT); comma list")
    ap.add_argument("--count-for", action="append", default=[], metavar="CASE=N",
                    help="faults for one signal case, e.g. 'SIGINT, trial mode, postgresql=40'")
    ap.add_argument("--tracebacks", type=Path, default=None,
                    help="write the stderr of every process that printed a traceback here")
    ap.add_argument("--stale-lock", type=int, default=0, metavar="N",
                    help="also N kills -9 followed by a plain Optuna writer (the lock it waits)")
    ap.add_argument("--mid-run", action="store_true",
                    help="signal cases: moments after the run's first new trial or durable "
                         "chunk, never in start-up")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    counts = dict(c.rsplit("=", 1) for c in args.count_for)
    global TRACEBACKS
    TRACEBACKS = args.tracebacks
    rng = random.Random(args.seed)
    print(f"# fault campaign on {machine_line()}", flush=True)
    kinds = [k for k in args.kinds.split(",") if k == "journal" or (k == "postgresql"
                                                                    and args.postgres)]
    rows: list[Row] = []
    t0 = time.monotonic()
    for kind in kinds:
        for mode in [m for m in args.modes.split(",") if m]:
            for sig, label in ((signal.SIGKILL, "kill -9"), (signal.SIGINT, "SIGINT")):
                if {"kill -9": "kill", "SIGINT": "int"}[label] not in args.signals.split(","):
                    continue
                row = Row(f"{label}, {mode} mode, {kind}" + (", mid-run" * args.mid_run),
                          "signal at a uniform random moment " + (
                              ("within 8 s of the run's first new trial" if mode == "trial"
                               else "after the run's first durable chunk") if args.mid_run
                              else "of the run") + ", then re-run")
                signal_case(row, mode, kind, sig, int(counts.get(row.fault, args.count)),
                            args.postgres, rng, args.mid_run)
                rows.append(row)
                print(" | ".join(row.cells()), flush=True)
    if not args.skip_ray and not args.signals_only:
        row = Row("Ray node killed", "SIGKILL of a second node's process group (ray start, "
                  "raylet, agents) after 5 trials (--workers 2 --ray-address), then re-run")
        ray_case(row, args.ray_count)
        rows.append(row)
        print(" | ".join(row.cells()), flush=True)
    extras = () if args.signals_only or args.skip_damage else (
        ("torn tail", "half a record appended"),
        ("garbage tail", "a non-JSON line appended"),
        ("zeroed block", "4 KiB of zeros in the middle"))
    for damage, how in extras:
        row = Row(f"journal {damage}", f"{how}; dse status; dse run to 50")
        damage_case(row, damage, 5)
        rows.append(row)
        print(" | ".join(row.cells()), flush=True)
    cases = [] if args.signals_only else [(k, 2 if k == "journal" else 4) for k in kinds]
    for kind, n in cases:
        row = Row(f"{n} concurrent drivers, {kind}",
                  f"{n} dse run started together on a 40-trial study"
                  + (" (fresh database)" if kind == "postgresql" else ""))
        concurrent_case(row, kind, n, 3, args.postgres)
        rows.append(row)
        print(" | ".join(row.cells()), flush=True)
    for kind in [] if args.signals_only else kinds:
        row = Row(f"2 concurrent drivers, sweep mode, {kind}",
                  "2 dse run started together sweeping one study")
        concurrent_sweep_case(row, kind, 2, 3, args.postgres)
        rows.append(row)
        print(" | ".join(row.cells()), flush=True)
    if args.stale_lock:
        print(stale_lock_case(args.stale_lock, rng), flush=True)
    head = ["fault", "how injected", "count", "trials lost", "duplicated", "over budget",
            "tracebacks", "what the user sees (first stderr line, most common)"]
    print(f"\n# {time.monotonic() - t0:.0f} s on {machine_line()}\n")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        print("| " + " | ".join(c.replace("|", "\\|") for c in row.cells()) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
