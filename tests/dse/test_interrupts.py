"""Ctrl-C and crashes: a study stopped at any moment resumes with every completed trial kept
and its interrupted points retried once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from dse import open_storage


def _start(study: Path, storage: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dse.cli", "run", str(study), "--storage", str(storage),
         "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _wait_for_trials(storage: Path, n: int, timeout: float = 60.0) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if storage.exists():
            try:
                s = optuna.load_study(study_name="demo", storage=open_storage(str(storage)))
                if sum(t.state == TrialState.COMPLETE for t in s.trials) >= n:
                    return
            except KeyError:
                pass
        time.sleep(0.2)
    raise AssertionError(f"fewer than {n} trials after {timeout} s")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill"])
def test_stopped_study_resumes_without_losing_trials(study_file, tmp_path: Path, sig) -> None:
    study = study_file(options="delay_s = 0.1", n_trials=40)
    storage = tmp_path / "s.journal"
    proc = _start(study, storage)
    _wait_for_trials(storage, 5)
    os.kill(proc.pid, sig)
    out, err = proc.communicate(timeout=60)
    if sig == signal.SIGINT:
        assert proc.returncode == 130
        assert "re-run to resume" in out + err or "run the same command" in out + err
        assert "Traceback" not in err
    before = optuna.load_study(study_name="demo", storage=open_storage(str(storage))).trials
    complete_before = {t.number: t.values for t in before if t.state == TrialState.COMPLETE}
    assert 5 <= len(complete_before) < 40
    stopped = [t for t in before if t.state in (TrialState.RUNNING, TrialState.FAIL)]

    proc = _start(study, storage)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    after = optuna.load_study(study_name="demo", storage=open_storage(str(storage))).trials
    # every completed trial survives, unchanged
    for t in after:
        if t.number in complete_before:
            assert t.values == complete_before[t.number]
    # the stopped point was failed with its reason and retried once
    for t in stopped:
        failed = after[t.number]
        assert failed.state == TrialState.FAIL
        assert failed.user_attrs["dse.fail_reason"].startswith(("interrupted", "orphaned"))
        retries = [r for r in after if r.user_attrs.get("dse.retry_of") == t.number]
        # the retry reuses every parameter the stopped trial had drawn (a trial stopped while
        # its parameters were being drawn has only some of them)
        assert len(retries) == 1
        assert failed.params.items() <= retries[0].params.items()
    counted = [t for t in after if t.state == TrialState.COMPLETE]
    assert len(counted) == 40
