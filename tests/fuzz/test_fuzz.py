"""Property-based fuzzing of everything a user hands ``dse``: study files, command-line
arguments, ``--config`` files and SUSHI trace files.

Each example runs the CLI in-process (``dse.cli.main``) in a fresh folder holding a small finished
study, and checks the contract of issue 12: exit code 0 or 2, never a traceback, one
``dse: error:`` line on failure, and the storage byte for byte unchanged on failure.

The budget is fixed (``max_examples`` per property, ``derandomize=True``: the same examples on
every run, no example database, no deadline), so the suite costs the same on every machine and
never flakes on a slow one. Generated values stay off sizes that would be legitimately expensive
(a 10**9-point population is a valid, slow request): integers are small, negative or beyond
int64, never in between.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from dse import shipped_studies


hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


FUZZ = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])
DEMO = shipped_studies()["demo"].read_text()


# -- values -------------------------------------------------------------------------------------
ints = st.one_of(st.integers(-3, 40), st.integers(2**63 - 2, 2**80),
                 st.integers(-(2**80), -(2**63)))
floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64),
                   st.sampled_from([0.0, -0.0, 0.5, 1.0, 1e-300, 1e308]))
texts = st.one_of(st.text(max_size=12),
                  st.sampled_from(["", "demo", "demo.x", "x" * 300, "a\x00b", "../evil", "é"]))
scalars = st.one_of(st.booleans(), ints, floats, texts)
toml_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(min_size=1, max_size=6), inner, max_size=3)),
    max_leaves=6,
)


def _toml(value: Any) -> str:
    """A TOML inline value (tomllib reads TOML; nothing in the standard library writes it)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        # JSON's escapes (\n, \u0000) are TOML basic-string escapes; non-ASCII stays literal
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return "{ " + ", ".join(f"{_toml(str(k))} = {_toml(v)}" for k, v in value.items()) + " }"


# Keys of the study-file schema (docs/study_files.md), plus a few that do not exist. The
# executor kind is left out: "ray" would start a Ray cluster per example.
STUDY_KEYS = [
    ("study", "name"), ("study", "mode"), ("study", "seed"), ("study", "description"),
    ("models.demo", "model"), ("models.demo", "options"), ("models.demo", "bind"),
    ("models.demo", "memoize"), ("space", "domains"), ("space", "override"),
    ("space", "shared"), ("sampler", "name"), ("sampler", "options"), ("budget", "n_trials"),
    ("budget", "timeout_s"), ("executor", "batch_size"), ("sweep", "method"),
    ("sweep", "population"), ("sweep", "generations"), ("sweep", "chunk_size"),
    ("sweep", "save"), ("nested", "outer"), ("pruner", "name"), ("pruner", "n_startup_trials"),
    ("storage", "url"), ("study", "bogus"), ("objectives", "metric"),
]
# Not delay_s, report_steps or die_above: a valid value of those sleeps, loops or ends the
# process by design (their types are checked in test_hostile_inputs.py).
DEMO_OPTIONS = ["fail_above", "raise_above", "expensive", "die_marker", "nope"]
sensible = {
    ("study", "mode"): st.sampled_from(["trial", "sweep", "nested", "grid", ""]),
    ("models.demo", "model"): st.sampled_from(["demo", "nope", "", "demo "]),
    ("models.demo", "options"): st.dictionaries(st.sampled_from(DEMO_OPTIONS), scalars,
                                                max_size=2),
    ("space", "override"): st.dictionaries(
        st.sampled_from(["demo.x", "demo.y", "demo.level", "demo.zz"]),
        st.one_of(scalars, st.fixed_dictionaries({}, optional={
            "low": scalars, "high": scalars, "steps": ints, "values": st.lists(scalars,
                                                                               max_size=3)})),
        max_size=2),
    ("sampler", "name"): st.sampled_from(["tpe", "random", "nsga2", "grid", "gp", "bogus"]),
    ("sweep", "method"): st.sampled_from(["exhaustive", "evolutionary", "other"]),
}
# Keys whose generated values must stay inside the example's folder.
confined = {("storage", "url"): st.one_of(st.sampled_from(["bogus://x", "", "a" * 5000]),
                                          st.text(alphabet="abc._-", min_size=1, max_size=8))}


def _study_value(key: tuple[str, str]) -> st.SearchStrategy[Any]:
    if key in confined:
        return confined[key]
    return st.one_of(sensible[key], toml_values) if key in sensible else toml_values


@st.composite
def study_files(draw: st.DrawFn) -> bytes:
    """The demo study with a few keys replaced or added, or bytes that are not a study."""
    kind = draw(st.sampled_from(["edited", "edited", "edited", "bytes", "nested"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "nested":
        depth = draw(st.integers(1, 3000))
        return ("a = " + "[" * depth + "]" * depth + "\n").encode()
    tables: dict[str, dict[str, str]] = {}
    for table, key in draw(st.lists(st.sampled_from(STUDY_KEYS), min_size=1, max_size=3,
                                    unique=True)):
        tables.setdefault(table, {})[key] = _toml(draw(_study_value((table, key))))
    text = DEMO.replace('name = "tpe"', 'name = "random"')  # cheap sampler by default
    text = text.replace("n_trials = 200", "n_trials = 2")
    lines = [line for line in text.splitlines()
             if not any(line.startswith(f"{k} =") for t in tables.values() for k in t)]
    text = "\n".join(lines) + "\n"
    for table, keys in tables.items():
        body = "".join(f"{k} = {v}\n" for k, v in keys.items())
        if f"[{table}]" in text and table != "objectives":
            text = text.replace(f"[{table}]\n", f"[{table}]\n{body}", 1)
        elif table == "objectives":
            text += f"\n[[objectives]]\n{body}"
        else:
            text += f"\n[{table}]\n{body}"
    return text.encode()


# -- the harness ----------------------------------------------------------------------------
@contextmanager
def _workspace(seeded: Path) -> Iterator[Path]:
    """A fresh folder with a copy of the seeded storage, the CLI's working directory."""
    import os

    with tempfile.TemporaryDirectory(prefix="dse-fuzz-") as tmp:
        folder = Path(tmp)
        shutil.copytree(seeded, folder / "store")
        old = os.getcwd()
        old_env = os.environ.get("DSE_STORAGE")
        os.chdir(folder)
        os.environ["DSE_STORAGE"] = str(folder / "store" / "studies.journal")
        try:
            yield folder
        finally:
            os.chdir(old)
            if old_env is None:
                os.environ.pop("DSE_STORAGE", None)
            else:
                os.environ["DSE_STORAGE"] = old_env


def _check(cli, folder: Path, argv: list[str]) -> None:  # type: ignore[no-untyped-def]
    before = cli.snapshot(folder / "store")
    result = cli.run(argv)
    cli.check(result, before, folder / "store")


# -- properties -----------------------------------------------------------------------------
@FUZZ
@given(data=study_files())
def test_fuzzed_study_files(cli, seeded: Path, data: bytes) -> None:  # type: ignore[no-untyped-def]
    with _workspace(seeded) as folder:
        (folder / "x.toml").write_bytes(data)
        _check(cli, folder, ["run", "x.toml", "--quiet", "--timeout", "20"])


# Path-like values never start at / or ~ and never climb out: the fuzzer runs as whoever runs
# the tests and must not write outside its folder.
safe_paths = st.text(alphabet=st.characters(blacklist_characters="/\\~"), min_size=0, max_size=40)
flag_values = st.one_of(texts, ints.map(str), floats.map(repr), safe_paths)


@st.composite
def argvs(draw: st.DrawFn) -> list[str]:
    command = draw(st.sampled_from(["run", "status", "export", "evaluate", "report", "bogus"]))
    if command == "run":
        argv = ["run", draw(st.sampled_from(["demo", "nope", "x.toml", ""])), "--quiet"]
        for flag in draw(st.lists(st.sampled_from(["--n-trials", "--seed", "--timeout", "--name",
                                                   "--storage", "--json", "--workers"]),
                                  max_size=3, unique=True)):
            if flag == "--json":
                argv.append(flag)
            elif flag == "--workers":
                argv += [flag, draw(st.sampled_from(["0", "-1", "x", "1"]))]  # > 1 starts Ray
            elif flag == "--n-trials":
                argv += [flag, draw(st.one_of(st.integers(-2, 6).map(str), flag_values))]
            elif flag == "--storage":
                argv += [flag, draw(st.one_of(safe_paths.map(lambda p: "store/" + p),
                                              st.just("bogus://x"), st.just("a" * 5000)))]
            else:
                argv += [flag, draw(flag_values)]
        return argv
    if command == "evaluate":
        argv = ["evaluate", draw(st.sampled_from(["demo", "nope", "cluster", ""]))]
        for _ in range(draw(st.integers(0, 3))):
            kv = f"{draw(st.sampled_from(['x', 'y', 'level', 'q', '']))}={draw(flag_values)}"
            argv += [draw(st.sampled_from(["--set", "--option"])), kv]
        return argv + (["--json"] if draw(st.booleans()) else [])
    if command == "export":
        return ["export", draw(st.sampled_from(["demo", "nope", ""])), "-o",
                "out/" + draw(safe_paths), "--format", draw(st.one_of(
                    st.sampled_from(["json", "csv,yaml", "parquet", "xml", ""]), texts))]
    if command == "report":
        return ["report", draw(st.sampled_from(["demo", "nope"])), "-o", "rep/" + draw(safe_paths)]
    return [command, *draw(st.lists(flag_values, max_size=2))]


@FUZZ
@given(argv=argvs())
def test_fuzzed_command_lines(cli, seeded: Path, argv: list[str]) -> None:  # type: ignore[no-untyped-def]
    with _workspace(seeded) as folder:
        _check(cli, folder, argv)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.integers(2**63, 2**70),
              st.floats(allow_nan=False, allow_infinity=False), texts),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8,
)
near_records = st.lists(st.fixed_dictionaries({"config": st.one_of(
    json_values,
    st.dictionaries(st.sampled_from(["demo", "x"]), st.one_of(json_values, st.fixed_dictionaries(
        {"model": st.sampled_from(["demo", "nope"]),
         "params": st.one_of(json_values, st.dictionaries(
             st.sampled_from(["x", "y", "level", "zz"]), json_values, max_size=3))},
        optional={"options": st.one_of(json_values, st.dictionaries(
            st.sampled_from(DEMO_OPTIONS), json_values, max_size=2))})), max_size=2))}),
    max_size=3)


@FUZZ
@given(records=st.one_of(near_records, json_values),
       suffix=st.sampled_from([".json", ".json", ".yaml", ".csv", ".txt"]),
       garbage=st.one_of(st.none(), st.binary(max_size=80)))
def test_fuzzed_config_files(cli, seeded: Path, records: Any, suffix: str,  # type: ignore[no-untyped-def]
                             garbage: bytes | None) -> None:
    with _workspace(seeded) as folder:
        path = folder / f"c{suffix}"
        if garbage is not None:
            path.write_bytes(garbage)
        elif suffix == ".yaml":
            import yaml

            path.write_text(yaml.safe_dump(records))
        else:
            path.write_text(json.dumps(records))
        _check(cli, folder, ["evaluate", "demo", "--config", str(path)])


trace_rows = st.lists(st.one_of(
    st.tuples(st.floats(-1, 100), st.sampled_from(["latency", "accuracy"]), st.floats(-1, 2)).map(
        lambda r: f"{r[0]!r},{r[1]},{r[2]!r}"),
    texts, st.just("nan,latency,0.5"), st.just("1,2,3,4"), st.just("")), max_size=6)


@settings(FUZZ, max_examples=25)
@given(magic=st.sampled_from(["# sushi-trace v1 {}", "# sushi-trace v1 {bad", "# sushi-trace v2",
                              "", "t_arrival_s,mode,target_q"]),
       header=st.sampled_from(["t_arrival_s,mode,target_q", "t,mode,q", ""]),
       rows=trace_rows, garbage=st.one_of(st.none(), st.binary(max_size=60)))
def test_fuzzed_trace_files(cli, seeded: Path, magic: str, header: str,  # type: ignore[no-untyped-def]
                            rows: list[str], garbage: bytes | None) -> None:
    with _workspace(seeded) as folder:
        path = folder / "t.csv"
        if garbage is not None:
            path.write_bytes(garbage)
        else:
            path.write_text("\n".join([magic, header, *rows]) + "\n")
        _check(cli, folder, ["evaluate", "sushi", "--option", f"trace_file={path}"])
