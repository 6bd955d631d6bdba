"""Ctrl-C and crashes: a study stopped at any moment resumes with every completed trial kept
and its interrupted points retried once.

Nothing here depends on how fast the machine is: the stopped run has a budget it cannot finish
(so the signal always lands mid-study, however late it comes), the test waits for a condition
in the journal instead of sleeping, and the resumed run is given a budget just above what the
stopped one left.
"""

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


# A budget no run reaches before the test stops it.
UNREACHABLE = 1_000_000
# Bounds on waiting for a hung child, not timing assertions: on a loaded machine the condition
# arrives late, never wrongly.
HANG_S = 600.0


def _default_sigint() -> None:
    # A suite started in the background of a non-interactive shell inherits SIGINT ignored,
    # and so would the child: it would never see the Ctrl-C this test sends.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(study: Path, storage: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dse.cli", "run", str(study), "--storage", str(storage),
         "--quiet", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint,
    )


def _trials(storage: Path) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name="demo", storage=open_storage(str(storage))).trials


def _wait_for_trials(proc: subprocess.Popen[str], storage: Path, n: int) -> None:
    """Poll the journal until ``n`` trials are complete (the child must still be running)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < HANG_S:
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"the run ended (exit {proc.returncode}) before {n} trials: "
                                 f"{out[-500:]} {err[-2000:]}")
        if storage.exists():
            try:
                if sum(t.state == TrialState.COMPLETE for t in _trials(storage)) >= n:
                    return
            except KeyError:  # the study is not created yet
                pass
        time.sleep(0.1)  # polling interval only; no assertion depends on it
    raise AssertionError(f"fewer than {n} complete trials after {HANG_S} s")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill"])
def test_stopped_study_resumes_without_losing_trials(study_file, tmp_path: Path, sig) -> None:
    study = study_file(options="delay_s = 0.05", n_trials=UNREACHABLE)
    storage = tmp_path / "s.journal"
    proc = _start(study, storage)
    _wait_for_trials(proc, storage, 5)
    os.kill(proc.pid, sig)
    out, err = proc.communicate(timeout=HANG_S)
    if sig == signal.SIGINT:
        assert proc.returncode == 130, err
        assert "re-run to resume" in out + err or "run the same command" in out + err
        assert "Traceback" not in err
    else:
        assert proc.returncode == -signal.SIGKILL
    before = _trials(storage)
    complete_before = {t.number: t.values for t in before if t.state == TrialState.COMPLETE}
    assert len(complete_before) >= 5
    stopped = [t for t in before if t.state in (TrialState.RUNNING, TrialState.FAIL)]

    total = len(complete_before) + 3
    proc = _start(study, storage, "--n-trials", str(total))
    out, err = proc.communicate(timeout=HANG_S)
    assert proc.returncode == 0, err
    after = _trials(storage)
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
    assert len(counted) == total


def test_ctrl_c_during_start_up_is_one_line_and_exit_130(tmp_path: Path) -> None:
    # The SIGINT is raised by the process itself while the engine is still being imported,
    # which is where a Ctrl-C at start-up lands; the console script is named "dse".
    code = ("import sys; sys.argv[0] = 'dse'; import dse._startup, os, signal; "
            "os.kill(os.getpid(), signal.SIGINT); import dse.cli; "
            "sys.exit(dse.cli.main(['models']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, timeout=HANG_S, preexec_fn=_default_sigint)
    assert proc.returncode == 130
    assert proc.stderr == "dse: interrupted; run the same command again to resume\n"
    assert proc.stdout == ""
