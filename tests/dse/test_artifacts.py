"""Study names and where a study's files live: validated names, one folder per storage."""

from __future__ import annotations

from pathlib import Path

import pytest

from dse import parse_spec
from dse._artifacts import MAX_NAME_LENGTH, artifacts_dir, check_study_name
from dse._errors import SpecError
from dse.cli import main


def _spec(name: object) -> dict:
    return {"study": {"name": name}, "models": {"demo": {}},
            "objectives": [{"metric": "demo.f1"}]}


BAD = ["../../evil", "a/b", "a\\b", "/abs", "", ".hidden", "-dash", "a..b", "..", "a\x00b",
       "x" * (MAX_NAME_LENGTH + 1), "two words", "é"]


@pytest.mark.parametrize("name", BAD)
def test_bad_study_names_are_one_line_errors(name: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_spec(_spec(name), "s.toml")
    message = str(err.value)
    assert message.startswith("s.toml: study.name: expected a study name of")
    assert "\n" not in message
    assert len(message) < 300


@pytest.mark.parametrize("name", ["demo", "comet_1t", "A.b-c_9", "x" * MAX_NAME_LENGTH])
def test_good_names_pass(name: str) -> None:
    assert parse_spec(_spec(name)).name == name


def test_the_name_flag_passes_the_same_check() -> None:
    spec = parse_spec(_spec("demo"))
    assert spec.with_overrides(name="other").name == "other"
    with pytest.raises(SpecError, match="^--name: expected a study name"):
        spec.with_overrides(name="../x")
    with pytest.raises(SpecError):
        check_study_name(7, "where")


def test_cli_refuses_a_hostile_name_and_writes_nothing(capsys, tmp_path: Path,
                                                       monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    code = main(["run", "demo", "--name", "../../evil", "--storage", str(tmp_path / "s.journal")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("dse: error: --name: expected a study name")
    assert len(err.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_each_storage_has_its_own_folder(tmp_path: Path) -> None:
    a = artifacts_dir(str(tmp_path / "a.journal"), "demo")
    b = artifacts_dir(str(tmp_path / "b.journal"), "demo")
    assert a != b and a.parent.parent == b.parent.parent == tmp_path
    assert a == tmp_path / "a.journal.files" / "demo"
    url = artifacts_dir("postgresql+psycopg://user:secret@host/db", "demo")
    other = artifacts_dir("postgresql+psycopg://user:secret@host/db2", "demo")
    assert url != other and "secret" not in str(url) and url.name == "demo"
    with pytest.raises(SpecError):
        artifacts_dir(str(tmp_path / "a.journal"), "../x")
