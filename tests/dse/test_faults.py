"""One small case of each fault of the campaign (benchmarks/faults.py), with its helpers.

Faults land at states, not times: a kill is sent once the journal has N records or the sweep
has written its first checkpoint (polled), so the outcome does not depend on machine speed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest


sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository's benchmarks/

from benchmarks.faults import (  # noqa: E402
    _ray_workers,
    audit_sweep,
    audit_trials,
    checkpointed,
    complete_trials,
    ended_or,
    fresh_postgres,
    has_trials,
    journal_lines,
    kill_when,
    run,
    start,
    wait_until,
    write_study,
)


POSTGRES = os.environ.get("DSE_TEST_POSTGRES_URL")
needs_postgres = pytest.mark.skipif(not POSTGRES, reason="set DSE_TEST_POSTGRES_URL to run")


def _no_traceback(*stderrs: str) -> None:
    for err in stderrs:
        assert "Traceback" not in err, err


def _kill_and_resume(study: Path, storage: str, sig: int, ready,  # type: ignore[no-untyped-def]
                     n_trials: int) -> subprocess.CompletedProcess[str]:
    proc = start(study, storage)
    assert kill_when(proc, sig, ready), "the run ended before the fault"
    out, err = proc.communicate(timeout=300)
    before = complete_trials(storage, study.stem)
    done = run(study, storage)
    assert done.returncode == 0, done.stderr
    _no_traceback(err, done.stderr)
    outcome = audit_trials(before, storage, study.stem, n_trials)
    assert (outcome.lost, outcome.duplicated, outcome.over_budget) == (0, 0, 0)
    assert len(complete_trials(storage, study.stem)) == n_trials
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "sigint"])
def test_trial_mode_on_a_journal(tmp_path: Path, sig: int) -> None:
    journal = tmp_path / "s.journal"
    # The fault lands after 100 journal records, about a tenth of the way through 200 trials
    # (each at least 10 ms), well before the run can finish. (The child gets the default SIGINT
    # handling: under a background CI job it inherited SIGINT ignored and ran to the end.)
    study = write_study(tmp_path, "trial", n_trials=200, name="t")
    faulted = _kill_and_resume(study, str(journal), sig, lambda: journal_lines(journal) >= 100,
                               200)
    if sig == signal.SIGINT:  # the run's summary says so, with the exit code of an interrupt
        assert faulted.returncode == 130 and not faulted.stderr.strip()
        assert "(interrupted; re-run to resume)" in faulted.stdout.splitlines()[0]


@needs_postgres
def test_kill_9_in_trial_mode_on_postgresql(tmp_path: Path) -> None:
    assert POSTGRES is not None
    with fresh_postgres(POSTGRES) as url:
        study = write_study(tmp_path, "trial", n_trials=20, name="p")
        _kill_and_resume(study, url, signal.SIGKILL, has_trials(url, "p", 5), 20)


def test_kill_9_in_sweep_mode(tmp_path: Path) -> None:
    reference = str(tmp_path / "reference.journal")
    assert run(write_study(tmp_path, "sweep", name="ref"), reference).returncode == 0
    from benchmarks.faults import _study

    front = {tuple(sorted(t.params.items())) for t in _study(reference, "ref").best_trials}
    journal = str(tmp_path / "s.journal")
    study = write_study(tmp_path, "sweep", name="w")
    proc = start(study, journal)
    assert kill_when(proc, signal.SIGKILL, checkpointed(study, journal, "w"))
    proc.communicate(timeout=300)
    done = run(study, journal)
    assert done.returncode == 0, done.stderr
    _no_traceback(done.stderr)
    outcome = audit_sweep(front, journal, "w")
    assert (outcome.lost, outcome.duplicated) == (0, 0)


@pytest.mark.parametrize("damage", [b'{"op_code":6,"worker_id":"w","trial_id":3,"st',
                                    b"\x00\x17 not a record \xff\n"], ids=["torn", "garbage"])
def test_damaged_journal_tail(tmp_path: Path, damage: bytes) -> None:
    journal = tmp_path / "s.journal"
    study = write_study(tmp_path, "trial", n_trials=8, name="d", delay_s=0.0)
    assert run(study, str(journal)).returncode == 0
    before = complete_trials(str(journal), "d")
    with journal.open("ab") as f:
        f.write(damage)
    resumed = run(study, str(journal), "--n-trials", "12")
    assert resumed.returncode == 0, resumed.stderr
    _no_traceback(resumed.stderr)
    assert resumed.stderr.count("dse: warning:") == 1
    outcome = audit_trials(before, str(journal), "d", 12)
    assert (outcome.lost, outcome.duplicated, outcome.over_budget) == (0, 0, 0)
    assert len(complete_trials(str(journal), "d")) == 12


def _together(study: Path, storage: str, n: int) -> list[subprocess.CompletedProcess[str]]:
    procs = [start(study, storage) for _ in range(n)]
    return [subprocess.CompletedProcess(p.args, p.wait(), *p.communicate()) for p in procs]


def test_two_concurrent_drivers_on_a_journal(tmp_path: Path) -> None:
    journal = str(tmp_path / "s.journal")
    study = write_study(tmp_path, "trial", n_trials=24, name="c", delay_s=0.0)
    for done in _together(study, journal, 2):
        assert done.returncode == 0, done.stderr
        _no_traceback(done.stderr)
    outcome = audit_trials({}, journal, "c", 24)
    # Each driver asks one trial at a time: the other's one in-flight trial bounds the overshoot.
    assert outcome.duplicated == 0 and outcome.over_budget <= 1


@needs_postgres
def test_four_drivers_on_a_fresh_postgresql_database(tmp_path: Path) -> None:
    assert POSTGRES is not None
    with fresh_postgres(POSTGRES) as url:
        study = write_study(tmp_path, "trial", n_trials=8, name="f", delay_s=0.0)
        for done in _together(study, url, 4):
            assert done.returncode == 0, done.stderr
            _no_traceback(done.stderr)
            assert "Duplicated" not in done.stderr
        outcome = audit_trials({}, url, "f", 8)
        assert outcome.duplicated == 0 and outcome.over_budget <= 3


@pytest.mark.ray
def test_killed_ray_workers(tmp_path: Path) -> None:
    journal = str(tmp_path / "s.journal")
    study = write_study(tmp_path, "trial", n_trials=12, name="r", delay_s=0.2)
    proc = start(study, journal, "--workers", "2")
    assert wait_until(ended_or(proc, has_trials(journal, "r", 3)), timeout=600)
    assert proc.poll() is None, proc.communicate()[1]
    workers = _ray_workers(proc.pid)
    if not workers:  # it joined a Ray cluster it did not start: never kill others' workers
        proc.kill()
        proc.communicate()
        pytest.skip("the run joined an existing Ray cluster on this machine")
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    _, err = proc.communicate(timeout=600)  # never hangs: retried elsewhere, or fails and exits
    _no_traceback(err)
    done = run(study, journal)
    assert done.returncode == 0, done.stderr
    outcome = audit_trials({}, journal, "r", 12)
    assert (outcome.duplicated, outcome.over_budget) == (0, 0)
    assert len(complete_trials(journal, "r")) == 12
