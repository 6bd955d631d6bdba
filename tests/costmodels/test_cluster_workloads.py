"""Workloads: built-ins and user files (TOML, JSON, CSV) with clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from costmodels import ModelError
from costmodels.cluster import (
    WORKLOADS,
    ClusterModel,
    WorkloadError,
    load_workloads,
    resolve_workload,
)


def test_builtins_cover_table1_and_named_models() -> None:
    assert len([n for n in WORKLOADS if n.startswith("megatron_")]) == 10
    gpt3 = WORKLOADS["gpt3_175b"]
    assert (gpt3.layers, gpt3.hidden, gpt3.heads) == (96, 12288, 96)
    assert gpt3.params == pytest.approx(174.6e9, rel=0.01)
    assert WORKLOADS["mt_nlg_530b"].params == pytest.approx(529.6e9, rel=0.01)


def test_toml_json_csv(tmp_path: Path) -> None:
    (tmp_path / "w.toml").write_text(
        "[workloads.small]\nlayers = 24\nhidden = 2048\nheads = 16\nseq_len = 2048\n"
        "vocab = 50257\nglobal_batch = 512\ntrain_tokens = 3e11\n"
        "[workloads.wide]\nlayers = 12\nhidden = 4096\nheads = 32\nseq_len = 4096\n"
        "vocab = 32000\nglobal_batch = 256\nffn = 11008\n"
    )
    found = load_workloads(tmp_path / "w.toml")
    assert set(found) == {"small", "wide"}
    assert found["wide"].ffn == 11008 and found["small"].ffn == 4 * 2048
    (tmp_path / "w.json").write_text(
        json.dumps(
            [
                {
                    "name": "j",
                    "layers": 2,
                    "hidden": 64,
                    "heads": 4,
                    "seq_len": 128,
                    "vocab": 100,
                    "global_batch": 8,
                }
            ]
        )
    )
    assert load_workloads(tmp_path / "w.json")["j"].hidden == 64
    (tmp_path / "w.csv").write_text(
        "name,layers,hidden,heads,seq_len,vocab,global_batch\nc,4,128,8,256,1000,16\n"
    )
    assert load_workloads(tmp_path / "w.csv")["c"].layers == 4
    m = ClusterModel(workload=f"{tmp_path / 'w.toml'}:wide")
    assert m.workload.name == "wide"
    out = m.evaluate(m.batch(num_nodes=1, tp=8, pp=1, microbatch=1))
    assert out["invalid_config"][0] == 0


@pytest.mark.parametrize(
    ("text", "suffix", "message"),
    [
        ("[workloads.x]\nlayers = 2\n", ".toml", "lacks required key 'hidden'"),
        (
            "[workloads.x]\nlayers = -2\nhidden = 64\nheads = 4\nseq_len = 8\nvocab = 9\n"
            "global_batch = 8\n",
            ".toml",
            "layers=-2, expected a positive integer",
        ),
        (
            "[workloads.x]\nlayers = 2\nhidden = 65\nheads = 4\nseq_len = 8\nvocab = 9\n"
            "global_batch = 8\n",
            ".toml",
            "not a multiple of heads",
        ),
        ("[workloads.x]\nlayerz = 2\n", ".toml", "unknown key 'layerz'"),
        ("[workloads.x\n", ".toml", "not valid TOML"),
        ("name,layers\nx,2,3\n", ".csv", "different number of columns"),
        ("{}", ".yaml", "unknown workload file type"),
    ],
)
def test_malformed_files_give_one_line_errors(
    tmp_path: Path, text: str, suffix: str, message: str
) -> None:
    path = tmp_path / f"bad{suffix}"
    path.write_text(text)
    with pytest.raises(WorkloadError, match=message) as info:
        resolve_workload(str(path)) if suffix != ".yaml" else load_workloads(path)
    assert "\n" not in str(info.value)
    assert str(path) in str(info.value)


def test_unknown_names(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="expected a file"):
        resolve_workload("nope")
    (tmp_path / "two.toml").write_text(
        "[workloads.a]\nlayers = 2\nhidden = 64\nheads = 4\nseq_len = 8\nvocab = 9\n"
        "global_batch = 8\n[workloads.b]\nlayers = 2\nhidden = 64\nheads = 4\nseq_len = 8\n"
        "vocab = 9\nglobal_batch = 8\n"
    )
    with pytest.raises(WorkloadError, match="pick one"):
        resolve_workload(str(tmp_path / "two.toml"))
    with pytest.raises(WorkloadError, match="no workload 'c'"):
        resolve_workload(f"{tmp_path / 'two.toml'}:c")
    with pytest.raises(WorkloadError, match="not found"):
        load_workloads(tmp_path / "missing.toml")
