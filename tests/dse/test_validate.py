"""``dse validate``: every record says what kind of check it is, and undocumented misses fail."""

from __future__ import annotations

import json
from typing import Any

import pytest

import dse.cli
from costmodels._protocol import ANCHOR_KINDS, Anchor
from dse.cli import main


def _anchor(modeled: float, **kw: Any) -> Anchor:
    return Anchor("m", "a", "src", 1.0, modeled, 0.05, kind=kw.pop("kind", "held_out"), **kw)


def test_anchor_requires_a_known_kind() -> None:
    with pytest.raises(TypeError):
        Anchor("m", "a", "src", 1.0, 1.0, 0.05)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="kind='guess'.*held_out"):
        Anchor("m", "a", "src", 1.0, 1.0, 0.05, kind="guess")  # type: ignore[arg-type]


def test_record_carries_kind_and_expected_miss() -> None:
    row = _anchor(1.2, kind="fitted", expected_miss=True).as_dict()
    assert row["kind"] == "fitted" and row["expected_miss"] is True and row["ok"] is False
    assert not _anchor(1.2, expected_miss=True).failed
    assert _anchor(1.2).failed and not _anchor(1.01).failed


@pytest.mark.parametrize(
    ("records", "code"),
    [
        ([_anchor(1.0)], 0),
        ([_anchor(1.0), _anchor(1.5, expected_miss=True)], 0),
        ([_anchor(1.0), _anchor(1.5)], 1),
        ([_anchor(float("nan"), kind="consistency")], 1),
    ],
)
def test_exit_code_follows_undocumented_misses(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], records: list[Anchor],
    code: int,
) -> None:
    monkeypatch.setattr(dse.cli, "validate_models", lambda name=None: [
        a.as_dict() for a in records])
    assert main(["validate", "--json"]) == code
    rows = json.loads(capsys.readouterr().out)
    assert [r["kind"] for r in rows] == [a.kind for a in records]
    assert main(["validate"]) == code
    table = capsys.readouterr().out
    assert "kind" in table.splitlines()[0]
    assert ("no (expected miss)" in table) == any(a.expected_miss and not a.ok for a in records)


def test_every_shipped_sparse_gemm_and_nm_anchor_is_tagged() -> None:
    for name in ("sparse_gemm", "nm_training"):
        rows = dse.cli.validate_models(name)
        assert rows and all(r["kind"] in ANCHOR_KINDS for r in rows)
        assert not [r["anchor"] for r in rows if not r["ok"] and not r["expected_miss"]]
