"""Each hostile input of issue 12 gets one line and exit code 2, and leaves the storage as it
was: no traceback, no empty study, no file written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


DEMO = (Path(__file__).resolve().parents[2] / "dse" / "studies" / "demo.toml").read_text()


def _study(text: str) -> bytes:
    return text.encode()


# name -> (files to write {name: bytes}, argv, fragment of the one-line error)
CASES: dict[str, tuple[dict[str, bytes], list[str], str]] = {
    "deeply nested TOML": (
        {"x.toml": b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n"},
        ["run", "x.toml"], "nested too deeply"),
    "study file not UTF-8": (
        {"x.toml": '[study]\nname = "caf\xe9"\n'.encode("latin-1")},
        ["run", "x.toml"], "not UTF-8 text (byte 0xe9"),
    "option of the wrong type": (
        {"x.toml": _study(DEMO.replace('model = "demo"\n',
                                       'model = "demo"\noptions = { delay_s = "x" }\n', 1))},
        ["run", "x.toml"], "option delay_s = 'x': expected a number"),
    "unknown option": (
        {"x.toml": _study(DEMO.replace('model = "demo"\n',
                                       'model = "demo"\noptions = { delai_s = 1 }\n', 1))},
        ["run", "x.toml"], "has no option 'delai_s'"),
    "seed beyond 32 bits": (
        {"x.toml": _study(DEMO.replace("seed = 0", "seed = 4294967296"))},
        ["run", "x.toml"], "study.seed=4294967296: expected an integer seed"),
    "NUL in the study name": (
        {"x.toml": _study(DEMO.replace('name = "demo"', 'name = "a\\u0000b"'))},
        ["run", "x.toml"], "expected a study name"),
    "300-character study name": (
        {"x.toml": _study(DEMO.replace('name = "demo"', 'name = "' + "x" * 300 + '"'))},
        ["run", "x.toml"], "expected a study name"),
    "--name with a separator": ({}, ["run", "demo", "--name", "../../evil"],
                                "expected a study name"),
    "negative --seed": ({}, ["run", "demo", "--seed", "-1"], "--seed=-1: expected"),
    "override beyond int64": (
        {"x.toml": _study(DEMO.replace(
            'domains = ["demo"]',
            'domains = ["demo"]\noverride = { "demo.level" = 99999999999999999999 }'))},
        ["run", "x.toml"], "demo.level=99999999999999999999 is out of range"),
    "--set beyond int64": (
        {}, ["evaluate", "demo", "--set", "level=99999999999999999999"], "out of range"),
    "--port out of range": ({}, ["dashboard", "--port", "70000"], "--port=70000: expected"),
    "5,000-character --storage": (
        {}, ["run", "demo", "--storage", "a" * 5000], "the path is 5000 bytes long"),
    "NUL in --storage": ({}, ["status", "--storage", "a\x00b"], "NUL character"),
    "--option of the wrong type": (
        {}, ["evaluate", "demo", "--option", "fail_above={}"], "option fail_above = {}"),
    "--option nested too deeply": (
        {}, ["evaluate", "demo", "--option", "fail_above=" + "[" * 5000], "nested too deeply"),
    "--config record whose config is not a table": (
        {"c.json": json.dumps([{"config": 5}]).encode()},
        ["evaluate", "demo", "--config", "c.json"], "'config' is int; expected a table"),
    "--config model entry not a table": (
        {"c.json": json.dumps([{"config": {"demo": [1]}}]).encode()},
        ["evaluate", "demo", "--config", "c.json"], "config.demo: expected a table"),
    "--config params not a table": (
        {"c.json": json.dumps([{"config": {"demo": {"model": "demo", "params": 3}}}]).encode()},
        ["evaluate", "demo", "--config", "c.json"], "config.demo.params: expected a table"),
    "--config not UTF-8": (
        {"c.yaml": b"\xff\xfe\x00garbage"},
        ["evaluate", "demo", "--config", "c.yaml"], "malformed exported config"),
    "--config bad YAML": (
        {"c.yaml": b"a: [1, 2\n"},
        ["evaluate", "demo", "--config", "c.yaml"], "malformed exported config"),
    "sushi trace file malformed": (
        {"t.csv": b"# sushi-trace v1 {}\nt_arrival_s,mode,target_q\n0.1,sideways,0.5\n"},
        ["evaluate", "sushi", "--option", "trace_file=t.csv"], "mode 'sideways'"),
    "model raising on the point": (
        {}, ["evaluate", "demo", "--option", "raise_above=0.1"], "could not evaluate"),
    "bad integer flag": ({}, ["run", "demo", "--n-trials", "many"], "invalid int value"),
    "infinite --timeout": ({}, ["run", "demo", "--timeout", "inf"], "--timeout=inf"),
    "no command": ({}, [], "required"),
    "unreachable --ray-address": (
        {}, ["run", "demo", "--ray-address", "127.0.0.1:1"], "cannot reach the Ray cluster"),
    "malformed --ray-address": (
        {}, ["run", "demo", "--ray-address", "nowhere"], "expected HOST:PORT"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_input_is_one_line_exit_2_and_changes_nothing(
    case: str, seeded: Path, cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
) -> None:
    files, argv, fragment = CASES[case]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DSE_STORAGE", str(seeded / "studies.journal"))
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    before = cli.snapshot(seeded)
    result = cli.run(argv)
    assert result.code == 2, result.err
    cli.check(result, before, seeded)
    assert fragment in result.err
    assert not (tmp_path / "dse-studies").exists()


def test_unexpected_exception_is_one_line_with_a_hint(cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import dse.cli

    def broken(args):  # type: ignore[no-untyped-def]
        raise ZeroDivisionError("a bug")

    monkeypatch.setitem(dse.cli._COMMANDS, "models", broken)
    result = cli.run(["models"])
    assert result.code == 1
    assert result.err.count("\n") == 1 and "Traceback" not in result.err
    assert "internal error: ZeroDivisionError: a bug" in result.err and "DSE_DEBUG=1" in result.err
    monkeypatch.setenv("DSE_DEBUG", "1")
    result = cli.run(["models"])
    assert result.code == 1 and "Traceback" in result.err
