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


def test_grouped_query_attention_and_gated_mlp(tmp_path: Path) -> None:
    # Llama-2-70B-like: 80 layers, h 8192, 64 heads, 8 KV heads, SwiGLU 28672, V 32000.
    (tmp_path / "llama.toml").write_text(
        "[workloads.llama70]\nlayers = 80\nhidden = 8192\nheads = 64\nkv_heads = 8\n"
        "gated_mlp = true\nffn = 28672\nseq_len = 4096\nvocab = 32000\nglobal_batch = 1024\n"
    )
    w = resolve_workload(str(tmp_path / "llama.toml"))
    assert w.kv_heads == 8 and w.gated_mlp and w.mlp_matrices == 3
    assert w.params == pytest.approx(69.0e9, rel=0.01)  # untied embeddings ignored (0.4%)
    mha = ClusterModel(workload=w.__class__(**(w.as_dict() | {"kv_heads": 64})))
    gqa = ClusterModel(workload=w)
    plain = ClusterModel(workload=w.__class__(**(w.as_dict() | {"gated_mlp": False})))
    cols = dict(num_nodes=64, tp=8, pp=8, recompute="none")
    out = {
        k: m.evaluate(m.batch(**cols)) for k, m in (("mha", mha), ("gqa", gqa), ("plain", plain))
    }
    assert out["gqa"]["mem_activations_gb"][0] < out["mha"]["mem_activations_gb"][0]
    assert out["gqa"]["time_fwd_s"][0] < out["mha"]["time_fwd_s"][0]
    assert out["plain"]["mem_weights_gb"][0] < out["gqa"]["mem_weights_gb"][0]
    # TP must split the KV heads too.
    bad = gqa.evaluate(gqa.batch(num_nodes=64, tp=[8, 16], pp=[8, 4]))
    assert bad["invalid_config"][0] == 0 and bad["invalid_config"][1] > 0


def test_standard_attention_is_the_default() -> None:
    base = WORKLOADS["megatron_1t"]
    explicit = base.__class__(**(base.as_dict() | {"kv_heads": 160, "gated_mlp": False}))
    a, b = ClusterModel(workload=base), ClusterModel(workload=explicit)
    out_a, out_b = a.evaluate(a.batch()), b.evaluate(b.batch())
    for k in out_a:
        assert out_a[k][0] == out_b[k][0], k


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("kv_heads = 7\n", "not a multiple of kv_heads=7"),
        ('gated_mlp = "yes"\n', "gated_mlp='yes', expected true or false"),
    ],
)
def test_bad_attention_fields(tmp_path: Path, extra: str, message: str) -> None:
    path = tmp_path / "w.toml"
    path.write_text(
        "[workloads.x]\nlayers = 2\nhidden = 64\nheads = 4\nseq_len = 8\n"
        f"vocab = 9\nglobal_batch = 8\n{extra}"
    )
    with pytest.raises(WorkloadError, match=message):
        load_workloads(path)
