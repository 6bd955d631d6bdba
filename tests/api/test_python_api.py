"""docs/python_api.md runs as written, block after block in one namespace, like a notebook."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import dse


DOC = Path(__file__).resolve().parents[2] / "docs" / "python_api.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def test_the_python_api_doc_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # nothing may be written outside the memory storage
    monkeypatch.setattr("dse._api._memory", None)  # a fresh ':memory:' for this test
    blocks = _blocks()
    assert len(blocks) >= 4
    namespace: dict[str, object] = {"__name__": "__main__"}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102 - the doc is the test
    assert not list(tmp_path.iterdir())


def test_memory_storage_resumes_within_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("dse._api._memory", None)
    first = dse.run_study("demo", storage=":memory:", n_trials=5, name="resume")
    assert first.storage == ":memory:" and first.n_new == 5
    second = dse.run_study("demo", storage=":memory:", n_trials=8, name="resume")
    assert second.n_new == 3 and len(second.study.trials) == 8


def test_a_sweeps_whole_front_and_the_thinned_study(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("dse._api._memory", None)
    spec = dse.load_spec("vegeta")
    spec = spec.with_overrides(name="vegeta-api")
    result = dse.run_study(spec, storage=":memory:")
    whole = result.sweep_front()
    assert len(whole) == result.sweep["front"] and len(whole) >= len(result.front())
    assert {"vegeta.engine", "vegeta.latency_ms"} <= set(whole.columns)
    assert whole.attrs["units"]["vegeta.latency_ms"] == "ms"
    assert result.records(pareto_only=True)
    again = dse.run_study(spec, storage=":memory:")  # finished: the front is read back
    assert again.n_new == 0 and len(again.sweep_front()) == len(whole)


def test_bad_budgets_and_storages_are_one_line() -> None:
    with pytest.raises(dse.DseError, match="n_trials .* or add_trials"):
        dse.run_study("demo", storage=":memory:", n_trials=3, add_trials=2)
    with pytest.raises(dse.DseError, match="add_trials=0: expected an integer >= 1"):
        dse.run_study("demo", storage=":memory:", add_trials=0)
    with pytest.raises(dse.DseError, match="storage=3: expected"):
        dse.run_study("demo", storage=3)
    with pytest.raises(dse.DseError, match="a sweep has no trial budget"):
        dse.run_study("vegeta", storage=":memory:", add_trials=1)


def test_a_registered_space_is_a_domain() -> None:
    from search_spaces import Float, Space, domain

    dse.register_space("api_test_space", lambda: Space((Float("x", 0.0, 0.5),)))
    assert domain("api_test_space").names == ("x",)
    spec = dse.load_spec({"study": {"name": "s"}, "models": {"demo": {}},
                          "space": {"domains": ["api_test_space as demo"]},
                          "objectives": [{"metric": "demo.f1"}]})
    assert dse.Problem(spec).space.names == ("demo.x",)
    with pytest.raises(ValueError, match="expected a Space or a function"):
        dse.register_space("bad", 3)  # type: ignore[arg-type]
