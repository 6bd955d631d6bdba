"""Run registrations, liveness, seeds and the budget with resumed and concurrent drivers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import optuna
from optuna.trial import TrialState

from dse import load_spec, open_storage, run_study
from dse._runs import RUN_ATTR, _start_ticks, is_alive, register_run, registrations
from dse._study import ORPHANED, recover_orphans


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


def test_nested_budget_holds_with_another_live_driver(study_file, tmp_path: Path,
                                                      monkeypatch) -> None:
    import dse._run

    path = study_file(mode="nested", n_trials=6, extra_space="""
        [space.override]
        "demo.x" = { steps = 5 }
        "demo.y" = { steps = 3 }
    """, body="""
        [nested]
        outer = ["demo.level"]
    """)
    storage = str(tmp_path / "s.journal")
    spec = load_spec(path).with_overrides(storage=storage)
    study = optuna.create_study(study_name="demo", storage=open_storage(storage),
                                directions=["minimize", "minimize"])
    # Another driver, alive (the test's parent process), works on the same study ...
    study._storage.set_study_system_attr(
        study._study_id, "dse.run.other", _me(pid=os.getppid(), start=_start_ticks(os.getppid()),
                                              nonce="o"))
    real = dse._run._tell_nested
    told = {"n": 0}

    def tell_then_the_other_finishes_three(*args, **kwargs):  # type: ignore[no-untyped-def]
        state = real(*args, **kwargs)
        told["n"] += 1
        if told["n"] == 1:  # ... and finishes three proposals after this run's first
            for _ in range(3):
                study.add_trial(optuna.trial.create_trial(
                    params={"demo.level": 1}, values=[1.0, 1.0],
                    distributions={"demo.level": optuna.distributions.IntDistribution(0, 3)},
                    user_attrs={"dse.mode": "nested-outer"}))
        return state

    monkeypatch.setattr(dse._run, "_tell_nested", tell_then_the_other_finishes_three)
    summary = run_study(spec)
    outer = [t for t in _study(storage).trials if t.user_attrs.get("dse.mode") == "nested-outer"]
    assert len(outer) == 6 and summary.n_new == 3  # the budget is the study's, not this run's
