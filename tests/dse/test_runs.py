"""Run registrations, liveness, seeds and the budget with resumed and concurrent drivers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from dse import load_spec, open_storage, run_study
from dse._runs import RUN_ATTR, _start_ticks, is_alive, register_run, registrations
from dse._study import ORPHANED, counted_trials, recover_orphans


def _study(storage: str, name: str = "demo") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(storage))


def _points(study: optuna.Study) -> list[tuple]:
    return [tuple(sorted(t.params.items())) for t in study.trials
            if t.state == TrialState.COMPLETE]


def _me(**changes: object) -> dict:
    value = {"host": socket.gethostname(), "pid": os.getpid(),
             "boot_id": open("/proc/sys/kernel/random/boot_id").read().strip(),
             "start": _start_ticks(os.getpid()), "nonce": "n"}
    value.update(changes)
    return value


def test_resumed_runs_never_replay_the_seed(study_file, storage_url: str) -> None:
    spec = load_spec(study_file(n_trials=6)).with_overrides(storage=storage_url)
    for total in (6, 12, 18):
        run_study(spec.with_overrides(n_trials=total))
    points = _points(_study(storage_url))
    assert len(points) == 18 and len(set(points)) == 18


def test_a_first_run_is_reproducible_from_the_seed(study_file, tmp_path: Path) -> None:
    spec = load_spec(study_file(n_trials=6))
    run_study(spec.with_overrides(storage=str(tmp_path / "a.journal")))
    run_study(spec.with_overrides(storage=str(tmp_path / "b.journal")))
    assert _points(_study(str(tmp_path / "a.journal"))) == \
        _points(_study(str(tmp_path / "b.journal")))


def test_registrations_are_removed_on_exit(study_file, storage_url: str) -> None:
    spec = load_spec(study_file(n_trials=3)).with_overrides(storage=storage_url)
    run_study(spec)
    run_study(spec.with_overrides(n_trials=5))
    study = _study(storage_url)
    regs = registrations(study)
    assert regs and all(v is None for v in regs.values())
    assert not any(k.startswith("dse.run") for k in study.user_attrs)
    assert all(t.system_attrs.get(RUN_ATTR) for t in study.trials)


def test_liveness_uses_more_than_the_pid() -> None:
    assert is_alive(_me())
    assert not is_alive(None)
    assert not is_alive(_me(start=_start_ticks(os.getpid()) - 1))  # a reused PID
    assert not is_alive(_me(boot_id="another-boot"))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert not is_alive(_me(pid=dead.pid, start=None))
    assert is_alive(_me(host="another-host"))  # cannot be checked: assumed alive


def test_orphans_of_a_dead_run_are_retried_while_another_runs(tmp_path: Path) -> None:
    storage = open_storage(str(tmp_path / "s.journal"))
    study = optuna.create_study(study_name="s", storage=storage)
    sid = study._study_id
    storage.set_study_system_attr(sid, "dse.run.live", _me(pid=os.getppid(),
                                                            start=_start_ticks(os.getppid()),
                                                            nonce="l"))
    storage.set_study_system_attr(sid, "dse.run.dead", _me(start=0, nonce="d"))
    trials = {}
    for owner in ("live:l", "dead:d"):
        t = study.ask()
        t.suggest_float("x", 0, 1)
        storage.set_trial_system_attr(t._trial_id, RUN_ATTR, owner)
        trials[owner] = t.number
    run = register_run(study, seed=1)
    assert recover_orphans(study, run) == 1
    states = {o: study.trials[n].state for o, n in trials.items()}
    assert states == {"live:l": TrialState.RUNNING, "dead:d": TrialState.FAIL}
    assert study.trials[trials["dead:d"]].user_attrs["dse.fail_reason"] == ORPHANED
    run.remove()
    assert registrations(study)["dse.run.dead"] is None  # found dead, removed


def _drivers(study: Path, storage: str, n: int) -> list[subprocess.CompletedProcess[str]]:
    procs = [subprocess.Popen([sys.executable, "-m", "dse.cli", "run", str(study),
                               "--storage", storage, "--quiet"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(n)]
    return [subprocess.CompletedProcess(p.args, p.wait(), *p.communicate()) for p in procs]


def test_concurrent_drivers_keep_the_budget_and_never_duplicate(study_file,
                                                               tmp_path: Path) -> None:
    storage = str(tmp_path / "s.journal")
    for done in _drivers(study_file(n_trials=24), storage, 2):
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
    study = _study(storage)
    # Each driver asks one trial at a time: the other's one in-flight trial bounds the overshoot.
    assert 24 <= counted_trials(study) <= 25
    points = _points(study)
    assert len(set(points)) == len(points)


@pytest.mark.skipif(not os.environ.get("DSE_TEST_POSTGRES_URL"),
                    reason="set DSE_TEST_POSTGRES_URL to run (.ci/run starts a server)")
def test_four_drivers_on_a_fresh_postgresql_database(study_file) -> None:
    import sqlalchemy

    base = os.environ["DSE_TEST_POSTGRES_URL"]
    schema = f"dse_fresh_{uuid.uuid4().hex[:10]}"  # a fresh, empty database of our own
    engine = sqlalchemy.create_engine(base)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}options=-csearch_path%3D{schema}"
    try:
        for done in _drivers(study_file(n_trials=8), url, 4):
            assert done.returncode == 0, done.stderr
            assert "Traceback" not in done.stderr and "Duplicated" not in done.stderr
        assert 8 <= counted_trials(_study(url)) <= 11
    finally:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()
