"""Sweeps under faults: kills at any moment never duplicate a trial nor lose a written row;
checkpoints are data, never pickle; nothing outside a study's folder is written or deleted."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import optuna
import pytest

import dse._run
import dse._sweep
from dse import load_spec, open_storage, run_study
from dse._artifacts import artifacts_dir
from dse._columnar import ColumnarWriter, read_columns, read_meta
from dse._errors import DseError
from dse._sweep_state import SweepState, load_checkpoint, save_checkpoint


SIZE = 21 * 6 * 4


class Killed(BaseException):
    """Stands for SIGKILL: nothing in the engine catches it."""


def _spec(study_file, tmp_path: Path, save: str = "all", steps: int = 21):  # type: ignore[no-untyped-def]
    path = study_file(mode="sweep", extra_space=f"""
        [space.override]
        "demo.x" = {{ steps = {steps} }}
        "demo.y" = {{ steps = 6 }}
    """, body=f"""
        [sweep]
        chunk_size = 50
        sample_rest = 20
        save = "{save}"
    """)
    return load_spec(path).with_overrides(storage=str(tmp_path / "s.journal"))


def _study(tmp_path: Path) -> optuna.Study:
    return optuna.load_study(study_name="demo", storage=open_storage(str(tmp_path / "s.journal")))


def _kill_on_call(monkeypatch, module, name: str, call: int) -> None:  # type: ignore[no-untyped-def]
    real = getattr(module, name)
    calls = {"n": 0}

    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == call:
            raise Killed
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)


def _clean_run(study_file, tmp_path: Path) -> list[tuple]:  # type: ignore[no-untyped-def]
    ref = tmp_path / "ref"
    ref.mkdir()
    run_study(_spec(study_file, ref))
    return sorted(tuple(sorted(t.params.items())) for t in _study(ref).trials)


def _assert_clean(study_file, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    study = _study(tmp_path)
    keys = [t.user_attrs["dse.sweep_key"] for t in study.trials]
    assert len(keys) == len(set(keys))  # no trial recorded twice
    got = sorted(tuple(sorted(t.params.items())) for t in study.trials)
    assert got == _clean_run(study_file, tmp_path)
    rows = np.asarray(read_columns(study.user_attrs["dse.sweep_file"])["row"])
    assert np.array_equal(rows, np.arange(SIZE))  # every point once, in order
    assert not (artifacts_dir(str(tmp_path / "s.journal"), "demo") / "checkpoint.npz").exists()


def test_a_kill_between_writing_rows_and_checkpointing_loses_and_repeats_nothing(
        study_file, tmp_path: Path, monkeypatch) -> None:
    spec = _spec(study_file, tmp_path)
    _kill_on_call(monkeypatch, dse._sweep, "save_checkpoint", 4)
    with pytest.raises(Killed):
        run_study(spec)
    points = artifacts_dir(spec.storage, "demo") / "points"
    assert read_meta(points)["n"] == 4 * 50  # durable per chunk, before any close
    monkeypatch.undo()
    assert run_study(spec).sweep["complete"]
    _assert_clean(study_file, tmp_path)


@pytest.mark.parametrize("call", [1, 2])
def test_a_kill_while_recording_resumes_the_recording_only(
        study_file, tmp_path: Path, monkeypatch, call: int) -> None:
    spec = _spec(study_file, tmp_path)
    real = optuna.Study.add_trials

    def half_then_die(self, trials):  # type: ignore[no-untyped-def]
        half_then_die.n += 1
        if half_then_die.n == call:
            real(self, trials[: len(trials) // 2])
            raise Killed
        real(self, trials)

    half_then_die.n = 0
    monkeypatch.setattr(optuna.Study, "add_trials", half_then_die)
    with pytest.raises(Killed):
        run_study(spec)
    monkeypatch.undo()
    assert _study(tmp_path).trials  # some were recorded before the kill

    def no_evaluation(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("a recorded-but-unfinished sweep must not evaluate again")

    monkeypatch.setattr(dse._sweep, "evaluate_range", no_evaluation)
    again = run_study(spec)
    assert again.sweep["evaluated"] == SIZE and again.n_new > 0
    monkeypatch.undo()
    _assert_clean(study_file, tmp_path)
    assert run_study(spec).n_new == 0


def test_a_kill_after_recording_before_marking_complete(
        study_file, tmp_path: Path, monkeypatch) -> None:
    spec = _spec(study_file, tmp_path)
    _kill_on_call(monkeypatch, dse._run, "finish_sweep", 1)
    with pytest.raises(Killed):
        run_study(spec)
    monkeypatch.undo()
    assert run_study(spec).n_new == 0
    _assert_clean(study_file, tmp_path)


def test_a_driver_whose_claim_was_taken_over_writes_nothing_more(
        study_file, tmp_path: Path, monkeypatch) -> None:
    # Its heartbeat stalled past the lease and another driver took the claim over: the check
    # before the fourth chunk's write stops it with one line; three chunks are on disk, no
    # trial is recorded, and the run that holds the claim resumes from there.
    from dse._claim import ClaimLost, StudyClaim

    spec = _spec(study_file, tmp_path)
    real, calls = StudyClaim.check, {"n": 0}

    def taken_over_at_the_fourth(self):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 4:
            raise ClaimLost("the study's sweep claim was taken over by elsewhere:1")
        real(self)

    monkeypatch.setattr(StudyClaim, "check", taken_over_at_the_fourth)
    with pytest.raises(ClaimLost):
        run_study(spec)
    monkeypatch.undo()
    assert read_meta(artifacts_dir(spec.storage, "demo") / "points")["n"] == 3 * 50
    assert not _study(tmp_path).trials
    assert run_study(spec).sweep["complete"]
    _assert_clean(study_file, tmp_path)


def test_a_recording_stops_at_the_batch_where_its_claim_was_taken_over(
        study_file, tmp_path: Path, monkeypatch) -> None:
    # The holder stalls past its lease after recording its first trial: the check before the
    # next batch of trials stops it, so no trial is written after the takeover.
    from dse._claim import ClaimLost, StudyClaim

    spec = _spec(study_file, tmp_path)
    state = {"taken": False, "after": 0}
    monkeypatch.setattr("dse._study.RECORD_BATCH", 1)
    real_check, real_add = StudyClaim.check, optuna.Study.add_trial

    def check(self):  # type: ignore[no-untyped-def]
        if state["taken"]:
            raise ClaimLost("the study's sweep claim was taken over by elsewhere:1")
        real_check(self)

    def add_trial(self, trial):  # type: ignore[no-untyped-def]
        state["after"] += state["taken"]
        real_add(self, trial)
        state["taken"] = True

    monkeypatch.setattr(StudyClaim, "check", check)
    monkeypatch.setattr(optuna.Study, "add_trial", add_trial)
    with pytest.raises(ClaimLost):
        run_study(spec)
    monkeypatch.undo()
    assert state["after"] == 0 and len(_study(tmp_path).trials) == 1


def test_a_planted_pickle_is_never_loaded(tmp_path: Path) -> None:
    marker = tmp_path / "executed"

    class Payload:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (marker.write_text, ("pwned",))

    path = tmp_path / "checkpoint.npz"
    path.write_bytes(pickle.dumps({"fingerprint": "f", "state": Payload()}))
    assert load_checkpoint(path, "f", 2) is None
    np.save(tmp_path / "obj.npy", np.asarray([Payload()], dtype=object), allow_pickle=True)
    (tmp_path / "obj.npy").replace(path)
    assert load_checkpoint(path, "f", 2) is None
    assert not marker.exists()


def test_a_checkpoint_round_trips_as_plain_data(tmp_path: Path) -> None:
    state = SweepState(2, 5, seed=3)
    state.front.F = np.asarray([[0.0, 1.0], [1.0, 0.0]])
    state.front.payload = {"a.x": np.asarray([0.0, 1.0]), "a.kind": np.asarray(["p", "q"]),
                           "__row": np.asarray([4, 9])}
    state.evaluated, state.written, state.complete = 10, 7, True
    state.extra = {"U": np.ones((3, 2)), "gen": 4}
    draws = np.random.default_rng(3).random(2)
    path = tmp_path / "c.npz"
    save_checkpoint(path, state, "fp")
    with np.load(path, allow_pickle=False) as data:
        assert all(data[k].dtype.kind != "O" for k in data.files)
    back = load_checkpoint(path, "fp", 2)
    assert back is not None and back.complete and back.evaluated == 10 and back.written == 7
    assert back.front.payload["a.kind"].tolist() == ["p", "q"]
    assert back.extra["gen"] == 4 and back.extra["U"].shape == (3, 2)
    assert np.array_equal(back.rng.random(2), draws)  # the generator continues where it was
    assert load_checkpoint(path, "other sweep", 2) is None
    path.write_bytes(path.read_bytes()[:40])  # torn
    assert load_checkpoint(path, "fp", 2) is None


def test_the_writer_never_empties_a_folder_it_did_not_write(tmp_path: Path) -> None:
    folder = tmp_path / "precious"
    folder.mkdir()
    (folder / "thesis.tex").write_text("years of work")
    with pytest.raises(DseError, match="not a sweep table"):
        ColumnarWriter(folder)
    assert (folder / "thesis.tex").read_text() == "years of work"
    # its own table it replaces, deleting only the files it listed
    own = tmp_path / "own"
    w = ColumnarWriter(own)
    w.append({"a": np.arange(3)})
    (own / "notes.txt").write_text("mine")
    ColumnarWriter(own).append({"b": np.arange(2)})
    assert sorted(p.name for p in own.iterdir()) == ["b.bin", "meta.json", "notes.txt"]
    assert read_meta(own)["n"] == 2


def test_an_edited_space_is_refused_once_recorded_and_swept_anew_before(
        study_file, tmp_path: Path, capsys) -> None:
    from dse.cli import main

    stopped = run_study(_spec(study_file, tmp_path).with_overrides(timeout_s=1e-6))
    assert not stopped.sweep["complete"]
    # nothing recorded yet: an edited space sweeps anew
    edited = _spec(study_file, tmp_path, steps=11)
    done = run_study(edited)
    assert done.sweep["evaluated"] == 11 * 6 * 4 and done.sweep["complete"]
    # recorded: running the first version again is refused in one line, exit 2
    path = study_file(mode="sweep", extra_space="""
        [space.override]
        "demo.x" = { steps = 21 }
        "demo.y" = { steps = 6 }
    """)
    code = main(["run", str(path), "--storage", str(tmp_path / "s.journal"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 2 and "holds the trials of a sweep with other" in err[1]
    assert len(_study(tmp_path).trials) == done.n_new


def test_a_checkpoint_whose_table_is_gone_starts_over(study_file, tmp_path: Path,
                                                     monkeypatch) -> None:
    import shutil

    spec = _spec(study_file, tmp_path)
    _kill_on_call(monkeypatch, dse._sweep, "save_checkpoint", 4)
    with pytest.raises(Killed):
        run_study(spec)
    monkeypatch.undo()
    shutil.rmtree(artifacts_dir(spec.storage, "demo") / "points")
    assert run_study(spec).sweep["complete"]
    _assert_clean(study_file, tmp_path)


@pytest.mark.parametrize("method", ["exhaustive", "evolutionary"])
def test_a_resumed_sweep_keeps_the_history_of_an_uninterrupted_one(
        study_file, tmp_path: Path, monkeypatch, method: str) -> None:
    path = study_file(mode="sweep", extra_space="""
        [space.override]
        "demo.x" = { steps = 21 }
        "demo.y" = { steps = 6 }
    """, body=f"""
        [sweep]
        method = "{method}"
        chunk_size = 50
        population = 40
        generations = 6
        sample_rest = 20
    """)
    clean = run_study(load_spec(path).with_overrides(storage=str(tmp_path / "clean.journal")))
    spec = load_spec(path).with_overrides(storage=str(tmp_path / "s.journal"))
    _kill_on_call(monkeypatch, dse._sweep, "save_checkpoint", 4)
    with pytest.raises(Killed):
        run_study(spec)
    monkeypatch.undo()
    resumed = run_study(spec)
    history = resumed.sweep["history"]
    assert len(history["evaluated"]) > 4  # rows from before the kill and after it
    assert history == clean.sweep["history"]
    assert history["evaluated"][-1] == resumed.sweep["evaluated"]
