"""The journal file: a lock that dies with its holder, torn tails set aside, damage tolerated."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from dse import _journal
from dse._journal import JournalLock, RobustJournalBackend, salvage_journal
from dse._study import ORPHANED
from dse.cli import main


def _storage(path: Path) -> JournalStorage:
    return JournalStorage(RobustJournalBackend(str(path)))


def _make_journal(path: Path, n: int = 30) -> list[tuple[dict, list[float]]]:
    """A two-objective study of ``n`` trials; returns each trial's (params, values)."""
    study = optuna.create_study(study_name="s", storage=_storage(path),
                                directions=["minimize", "minimize"],
                                sampler=optuna.samplers.RandomSampler(seed=3))
    for _ in range(n):
        trial = study.ask()
        x = trial.suggest_float("x", 0, 1)
        k = trial.suggest_int("k", 1, 9)
        trial.set_user_attr("note", "a" * 200)
        study.tell(trial, [x, k - x])
    return [(t.params, t.values) for t in study.trials]


def _trials(path: Path, backend: type = RobustJournalBackend) -> list[optuna.trial.FrozenTrial]:
    storage = JournalStorage(backend(str(path)))
    return optuna.load_study(study_name="s", storage=storage).trials


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_lock_of_a_killed_holder_is_taken_without_waiting(tmp_path: Path, monkeypatch) -> None:
    journal = tmp_path / "j.journal"
    journal.touch()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from dse._journal import JournalLock; "
         f"JournalLock({str(journal)!r}).acquire(); print('held', flush=True); time.sleep(600)"],
        stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert os.path.lexists(f"{journal}.lock")  # the dead holder left Optuna's symlink behind

    def no_waiting(_s: float) -> None:
        raise AssertionError("waited for a lock whose holder is dead")

    monkeypatch.setattr(_journal.time, "sleep", no_waiting)
    lock = JournalLock(str(journal))
    assert lock.acquire()
    lock.release()
    assert not os.path.lexists(f"{journal}.lock")


def test_any_dse_reader_clears_a_dead_writers_lock_for_plain_optuna(tmp_path: Path) -> None:
    journal = tmp_path / "j.journal"
    _make_journal(journal, n=2)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from dse._journal import JournalLock; "
         f"lock = JournalLock({str(journal)!r}); lock.acquire(); print('held', flush=True); "
         "time.sleep(600)"],
        stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    RobustJournalBackend(str(journal), create=False)  # a live holder's lock is left alone
    assert os.path.lexists(f"{journal}.lock")
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert os.path.lexists(f"{journal}.lock")
    assert main(["status", "--storage", str(journal)]) == 0  # any dse command, a reader too
    assert not os.path.lexists(f"{journal}.lock")
    # so plain Optuna writes at once (it would wait its 30 s grace for the dead symlink)
    plain = optuna.load_study(study_name="s", storage=JournalStorage(
        JournalFileBackend(str(journal))))
    plain.set_user_attr("plain", True)
    # a plain Optuna process's own lock (unmarked) is never removed
    os.symlink(str(journal), f"{journal}.lock")
    RobustJournalBackend(str(journal), create=False)
    assert os.path.lexists(f"{journal}.lock")


def test_torn_tail_is_moved_aside_and_never_built_upon(tmp_path: Path, capfd) -> None:
    journal = tmp_path / "j.journal"
    before = _make_journal(journal, 5)
    size = journal.stat().st_size
    with journal.open("ab") as f:
        f.write(b'{"op_code":8,"worker_id":"w","trial_id":2,"user_')  # a write cut off
    study = optuna.load_study(study_name="s", storage=_storage(journal))
    assert len(study.trials) == 5
    err = capfd.readouterr().err
    assert err.count("dse: warning:") == 1 and "not a whole record" in err
    study.tell(study.ask(), [0.5, 0.5])
    assert capfd.readouterr().err.count("\n") <= 1  # at most the one line saying where it went
    aside = tmp_path / f"j.journal.torn-{size}"
    assert aside.read_bytes().startswith(b'{"op_code":8')
    plain = _trials(journal, JournalFileBackend)  # Optuna's own reader: nothing glued
    assert [(t.params, t.values) for t in plain[:5]] == before and len(plain) == 6


def test_garbage_last_line_costs_only_itself(tmp_path: Path) -> None:
    journal = tmp_path / "j.journal"
    before = _make_journal(journal, 5)
    with journal.open("ab") as f:
        f.write(b"\x00\x00 not a record\n")
    study = optuna.load_study(study_name="s", storage=_storage(journal))
    study.tell(study.ask(), [0.5, 0.5])
    after = _trials(journal)
    assert [(t.params, t.values) for t in after[:5]] == before
    assert after[5].values == [0.5, 0.5]


def test_zeroed_middle_block_costs_only_the_records_it_hit(tmp_path: Path) -> None:
    journal = tmp_path / "j.journal"
    before = _make_journal(journal, 30)
    data = bytearray(journal.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 4096] = bytes(4096)
    journal.write_bytes(bytes(data))
    with pytest.raises(ValueError):  # Optuna's reader gives up on the whole study
        _trials(journal, JournalFileBackend)
    after = _trials(journal)
    assert len(after) == 30  # every trial keeps its number: lost creations have placeholders
    intact = [i for i, t in enumerate(after) if t.state == optuna.trial.TrialState.COMPLETE
              and "dse.lost" not in t.user_attrs]
    damaged = 30 - len(intact)
    assert 0 < damaged <= 4096 // 1000 + 2  # a trial takes over 1 KB of journal here
    for i in intact:
        assert (after[i].params, after[i].values) == before[i]
    lost = [t for t in after if "dse.lost" in t.user_attrs]
    assert all(t.state == optuna.trial.TrialState.FAIL for t in lost)  # retried as orphans
    assert all(t.user_attrs["dse.fail_reason"].startswith(ORPHANED) for t in lost)


def test_records_glued_after_a_fragment_are_recovered(tmp_path: Path) -> None:
    journal = tmp_path / "j.journal"
    _make_journal(journal, 3)
    lines = journal.read_bytes().split(b"\n")
    # Cut a record short and glue the next one onto it, as a writer without the tail check does.
    k = len(lines) // 2
    lines[k] = lines[k][: len(lines[k]) // 2] + lines[k + 1]
    del lines[k + 1]
    journal.write_bytes(b"\n".join(lines))
    backend = RobustJournalBackend(str(journal), quiet=True)
    records = list(backend.read_logs(0))
    real = [r for r in records if r["worker_id"] != "dse-journal-placeholder"]
    assert len(real) == len(lines) - 1  # only the cut record is lost (last line is empty)
    assert sum(d.nbytes for d in backend.damage) < len(lines[k])


def test_salvage_writes_a_clean_copy_and_leaves_the_source(tmp_path: Path, capsys) -> None:
    journal = tmp_path / "j.journal"
    _make_journal(journal, 20)
    data = bytearray(journal.read_bytes())
    data[len(data) // 3: len(data) // 3 + 2048] = bytes(2048)
    journal.write_bytes(bytes(data) + b'{"op_code":4,"work')
    digest = _digest(journal)
    dest = tmp_path / "clean.journal"
    assert main(["salvage", str(journal), str(dest)]) == 0
    out = capsys.readouterr().out
    assert "damaged region" in out and out.count("\n") == 1
    assert _digest(journal) == digest
    tolerant = [(t.number, t.state, t.params, t.values) for t in _trials(journal)]
    plain = [(t.number, t.state, t.params, t.values)
             for t in _trials(dest, JournalFileBackend)]
    assert plain == tolerant
    assert main(["salvage", str(journal), str(dest)]) == 2  # never overwrites
    assert main(["salvage", str(tmp_path / "missing"), str(tmp_path / "x")]) == 2
    assert "dse: error: salvage:" in capsys.readouterr().err


def test_salvage_report_counts(tmp_path: Path) -> None:
    journal = tmp_path / "j.journal"
    _make_journal(journal, 4)
    report = salvage_journal(str(journal), str(tmp_path / "copy.journal"))
    assert report.damaged_regions == report.placeholders == report.torn_tail_bytes == 0
    assert report.records == len(journal.read_bytes().splitlines())
