"""Dense transformer workloads: built-in configurations and user files.

A workload is the model being trained (layers ``L``, hidden ``h``, heads ``a`` of width
``d_head``, FFN width ``h_ff``, sequence ``s``, vocabulary ``V``), its global batch ``B`` in
sequences, and the token budget ``D`` that ``time_to_train_days`` is computed for. The attention
width ``a d_head`` need not equal ``h`` (GPT-3 13B: ``h = 5140``, 40 heads of 128; PaLM: 48
heads of 256 on ``h = 18432``); ``d_head`` defaults to ``h / a``.

Built-ins (sources):

* ``megatron_1.7b`` ... ``megatron_1t``: the ten rows of Megatron-LM Table 1 (Narayanan et al.,
  SC'21, arXiv 2104.04473): ``s = 2048``, ``V = 51200``, ``h_ff = 4h``, the row's batch.
* ``gpt3_175b``: GPT-3 175B (96 layers, h 12288, 96 heads) with Megatron-LM Table 2's batch 1536
  and the 300B-token budget of Megatron-LM §5.1's worked example.
* ``mt_nlg_530b``: MT-NLG 530B (105 layers, h 20480, 128 heads), Table 1's batch 2520, and the
  300B tokens Table 2's "days" column assumes.
* ``megatron_1t`` trains on 450B tokens (Megatron-LM §5.1: 84 days on 3072 A100s).
* ``gpt3_13b``: GPT-3 13B (Brown et al. 2020, Table 2.1: 40 layers, d_model 5140, 40 heads,
  d_head 128, d_ff = 4 d_model, 2048 context, batch 2M tokens = 1024 sequences), GPT-2's BPE
  vocabulary of 50257, 300B tokens.
* ``palm_540b``: PaLM 540B (Chowdhery et al. 2022, Table 1 and §2: 118 layers, d_model 18432,
  48 heads of 256, multi-query attention (one key/value head), SwiGLU with d_ff = 4 d_model,
  256k vocabulary, 2048 context, batch 2048 sequences at the end of training, 780B tokens).

User files (TOML, JSON or CSV) hold one or several workloads::

    # TOML: one table per workload
    [workloads.my_model]
    layers = 48
    hidden = 6144
    heads = 48
    seq_len = 2048
    vocab = 51200
    global_batch = 1024
    ffn = 24576            # optional, default 4 * hidden
    train_tokens = 3e11    # optional, default 300e9
    kv_heads = 8           # optional, grouped-query attention; default = heads
    head_dim = 128         # optional, width of one head; default hidden / heads
    gated_mlp = true       # optional, SwiGLU-style MLP (3 weight matrices); default false

JSON is the same mapping (``{"workloads": {"name": {...}}}``, or a list of objects with a
``name`` key); CSV has a header row with those column names plus ``name``.
"""

from __future__ import annotations

import csv
import json
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from costmodels._protocol import ModelError


__all__ = [
    "WORKLOADS",
    "Workload",
    "WorkloadError",
    "load_workloads",
    "resolve_workload",
]

# Default token budget of a workload that does not give one: the 300B tokens of GPT-3 and of
# Megatron-LM Table 2's "days for 300B tokens" column.
DEFAULT_TRAIN_TOKENS = 300e9


class WorkloadError(ModelError):
    """A workload name or file is invalid; the message names the file, entry and key."""


@dataclass(frozen=True)
class Workload:
    """A dense decoder-only transformer training job.

    Attributes:
        name: Identifier.
        layers: Transformer layers ``L``.
        hidden: Hidden size ``h``.
        heads: Attention heads ``a``.
        seq_len: Sequence length ``s`` (tokens).
        vocab: Vocabulary size ``V``.
        global_batch: Global batch ``B`` in sequences.
        ffn: FFN width ``h_ff`` (``4h`` when 0).
        train_tokens: Token budget ``D`` for time-to-train.
        source: Where the configuration comes from.
        kv_heads: Key/value heads (grouped-query attention; ``heads`` when 0).
        gated_mlp: A gated (SwiGLU-style) MLP with three ``h x h_ff`` matrices.
        head_dim: Width of one attention head (``hidden / heads`` when 0).
    """

    name: str
    layers: int
    hidden: int
    heads: int
    seq_len: int
    vocab: int
    global_batch: int
    ffn: int = 0
    train_tokens: float = DEFAULT_TRAIN_TOKENS
    source: str = ""
    kv_heads: int = 0
    gated_mlp: bool = False
    head_dim: int = 0

    def __post_init__(self) -> None:
        if self.ffn == 0:
            object.__setattr__(self, "ffn", 4 * self.hidden)
        if self.kv_heads == 0:
            object.__setattr__(self, "kv_heads", self.heads)
        if self.head_dim == 0:
            if self.hidden % self.heads:
                raise WorkloadError(
                    f"workload {self.name!r}: hidden={self.hidden} is not a multiple of "
                    f"heads={self.heads}; give head_dim"
                )
            object.__setattr__(self, "head_dim", self.hidden // self.heads)
        keys = (
            "layers",
            "hidden",
            "heads",
            "seq_len",
            "vocab",
            "global_batch",
            "ffn",
            "kv_heads",
            "head_dim",
        )
        for key in keys:
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise WorkloadError(
                    f"workload {self.name!r}: {key}={value!r}, expected a positive integer"
                )
        if self.heads % self.kv_heads:
            raise WorkloadError(
                f"workload {self.name!r}: heads={self.heads} is not a multiple of "
                f"kv_heads={self.kv_heads}"
            )
        if not isinstance(self.gated_mlp, bool):
            raise WorkloadError(
                f"workload {self.name!r}: gated_mlp={self.gated_mlp!r}, expected true or false"
            )
        if not self.train_tokens > 0:
            raise WorkloadError(
                f"workload {self.name!r}: train_tokens={self.train_tokens!r}, expected > 0"
            )

    @property
    def q_width(self) -> float:
        """Width of the query projection and of the attention output, ``heads x head_dim``."""
        return float(self.heads * self.head_dim)

    @property
    def kv_width(self) -> float:
        """Width of the key and value projections, ``kv_heads x head_dim``."""
        return float(self.kv_heads * self.head_dim)

    @property
    def mlp_matrices(self) -> int:
        """Weight matrices of the MLP: 3 when gated, else 2."""
        return 3 if self.gated_mlp else 2

    @property
    def params(self) -> float:
        """Parameter count, Megatron-LM eq. 2: ``12Lh^2 (1 + 13/(12h) + (V+s)/(12Lh))``.

        Generalized: attention ``2 h h_q + 2 h h_kv`` (``h_q = a d_head`` the query width,
        ``h_kv`` the key/value width), MLP ``n_mlp h h_ff`` (``n_mlp`` = 2, or 3 gated), biases
        and layer norms ``h_q + 2 h_kv + 6h + h_ff``; tied embeddings and learned positions.
        """
        return float(
            layer_params(self.hidden, self.q_width, self.kv_width, self.mlp_matrices, self.ffn)
            * self.layers
            + (self.vocab + self.seq_len) * self.hidden
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def layer_params(h: Any, hq: Any, hkv: Any, nmlp: Any, ffn: Any) -> Any:
    """Parameters of one transformer layer (scalars or arrays).

    QKV ``h (h_q + 2 h_kv)`` and projection ``h_q h`` weights, MLP ``n_mlp h h_ff``, biases
    ``h_q + 2 h_kv`` (QKV) + ``h`` (projection) + ``h_ff + h`` (MLP), two layer norms ``4h``:
    ``12h^2 + 13h`` for standard attention and ``h_ff = 4h``.
    """
    return 2.0 * h * hq + 2.0 * h * hkv + nmlp * h * ffn + hq + 2.0 * hkv + 6.0 * h + ffn


def _table1(
    name: str, L: int, h: int, a: int, B: int, tokens: float = DEFAULT_TRAIN_TOKENS
) -> Workload:
    return Workload(
        name,
        L,
        h,
        a,
        2048,
        51200,
        B,
        train_tokens=tokens,
        source="Megatron-LM (Narayanan et al., SC'21) Table 1",
    )


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        _table1("megatron_1.7b", 24, 2304, 24, 512),
        _table1("megatron_3.6b", 30, 3072, 32, 512),
        _table1("megatron_7.5b", 36, 4096, 32, 512),
        _table1("megatron_18.4b", 40, 6144, 48, 1024),
        _table1("megatron_39.1b", 48, 8192, 64, 1536),
        _table1("megatron_76.1b", 60, 10240, 80, 1792),
        _table1("megatron_145.6b", 80, 12288, 96, 2304),
        _table1("megatron_310.1b", 96, 16384, 128, 2160),
        _table1("megatron_529.6b", 105, 20480, 128, 2520),
        _table1("megatron_1t", 128, 25600, 160, 3072, tokens=450e9),
        Workload(
            "gpt3_175b",
            96,
            12288,
            96,
            2048,
            51200,
            1536,
            train_tokens=300e9,
            source="GPT-3 175B; batch of Megatron-LM Table 2; 300B tokens (MLM21 §5.1)",
        ),
        Workload(
            "gpt3_13b",
            40,
            5140,
            40,
            2048,
            50257,
            1024,
            train_tokens=300e9,
            head_dim=128,
            source="GPT-3 13B (Brown et al. 2020, Table 2.1); GPT-2 BPE vocabulary; 300B tokens",
        ),
        Workload(
            "palm_540b",
            118,
            18432,
            48,
            2048,
            256000,
            2048,
            train_tokens=780e9,
            kv_heads=1,
            gated_mlp=True,
            head_dim=256,
            source="PaLM 540B (Chowdhery et al. 2022, Table 1, §2: MQA, SwiGLU, 256k vocab)",
        ),
        Workload(
            "mt_nlg_530b",
            105,
            20480,
            128,
            2048,
            51200,
            2520,
            train_tokens=300e9,
            source="MT-NLG 530B; batch of Megatron-LM Table 1; 300B tokens (Table 2)",
        ),
    )
}

_REQUIRED = ("layers", "hidden", "heads", "seq_len", "vocab", "global_batch")
_OPTIONAL = ("ffn", "train_tokens", "source", "kv_heads", "gated_mlp", "head_dim")


def _from_mapping(where: str, name: str, entry: Mapping[str, Any]) -> Workload:
    if not isinstance(entry, Mapping):
        raise WorkloadError(f"{where}: workload {name!r} must be a table of keys, got {entry!r}")
    unknown = sorted(set(entry) - set(_REQUIRED) - set(_OPTIONAL) - {"name"})
    if unknown:
        raise WorkloadError(
            f"{where}: workload {name!r} has unknown key {unknown[0]!r}; expected "
            f"{', '.join(_REQUIRED + _OPTIONAL)}"
        )
    missing = [k for k in _REQUIRED if k not in entry]
    if missing:
        raise WorkloadError(f"{where}: workload {name!r} lacks required key {missing[0]!r}")
    values: dict[str, Any] = {}
    for key in _REQUIRED + ("ffn", "kv_heads", "head_dim"):
        if key not in entry:
            continue
        raw = entry[key]
        try:
            as_float = float(raw)
        except (TypeError, ValueError):
            raise WorkloadError(
                f"{where}: workload {name!r}: {key}={raw!r}, expected a positive integer"
            ) from None
        if isinstance(raw, bool) or as_float != int(as_float) or as_float < 1:
            raise WorkloadError(
                f"{where}: workload {name!r}: {key}={raw!r}, expected a positive integer"
            )
        values[key] = int(as_float)
    if "train_tokens" in entry:
        try:
            values["train_tokens"] = float(entry["train_tokens"])
        except (TypeError, ValueError):
            raise WorkloadError(
                f"{where}: workload {name!r}: train_tokens={entry['train_tokens']!r}, expected a "
                "number of tokens > 0"
            ) from None
    if "gated_mlp" in entry:
        raw = entry["gated_mlp"]
        text = str(raw).strip().lower()
        if isinstance(raw, bool) or text in ("true", "false", "1", "0"):
            values["gated_mlp"] = raw if isinstance(raw, bool) else text in ("true", "1")
        else:
            raise WorkloadError(
                f"{where}: workload {name!r}: gated_mlp={raw!r}, expected true or false"
            )
    values["source"] = str(entry.get("source", where))
    try:
        return Workload(name=name, **values)
    except WorkloadError as exc:
        raise WorkloadError(f"{where}: {exc}") from None


def load_workloads(path: str | Path) -> dict[str, Workload]:
    """Workloads defined in a TOML, JSON or CSV file (see the module docstring).

    Raises:
        WorkloadError: naming the file, the entry and the key that is wrong.
    """
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise WorkloadError(f"{where}: workload file not found")
    suffix = path.suffix.lower()
    try:
        text = path.read_text()
    except OSError as exc:
        raise WorkloadError(f"{where}: cannot read workload file ({exc.strerror})") from None
    entries: list[tuple[str, Mapping[str, Any]]] = []
    if suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        if reader.fieldnames is None or "name" not in reader.fieldnames:
            raise WorkloadError(f"{where}: a CSV workload file needs a header row with 'name'")
        for i, row in enumerate(reader, start=2):
            if None in row or any(v is None for v in row.values()):
                raise WorkloadError(f"{where}:{i}: row has a different number of columns")
            clean = {k: v for k, v in row.items() if v != "" and k != "name"}
            entries.append((row["name"] or f"row{i}", clean))
    elif suffix in (".toml", ".json"):
        try:
            data: Any = tomllib.loads(text) if suffix == ".toml" else json.loads(text)
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
            raise WorkloadError(f"{where}: not valid {suffix[1:].upper()}: {exc}") from None
        if isinstance(data, Mapping) and "workloads" in data:
            data = data["workloads"]
        if isinstance(data, list):
            for i, item in enumerate(data):
                if not isinstance(item, Mapping) or "name" not in item:
                    raise WorkloadError(f"{where}: entry {i} needs a 'name' key")
                entries.append((str(item["name"]), item))
        elif isinstance(data, Mapping) and all(isinstance(v, Mapping) for v in data.values()):
            entries = [(str(k), v) for k, v in data.items()]
        elif isinstance(data, Mapping):
            entries = [(str(data.get("name", path.stem)), data)]
        else:
            raise WorkloadError(
                f"{where}: expected a table of workloads, got {type(data).__name__}"
            )
    else:
        raise WorkloadError(
            f"{where}: unknown workload file type {suffix!r}; expected .toml, .json or .csv"
        )
    if not entries:
        raise WorkloadError(f"{where}: no workloads defined")
    return {name: _from_mapping(where, name, entry) for name, entry in entries}


def resolve_workload(spec: str | Workload | Mapping[str, Any]) -> Workload:
    """A workload from a built-in name, a file path (``path`` or ``path:name``) or a mapping.

    Raises:
        WorkloadError: for an unknown name or a bad file, listing what is available.
    """
    if isinstance(spec, Workload):
        return spec
    if isinstance(spec, Mapping):
        return _from_mapping("workload option", str(spec.get("name", "custom")), spec)
    if spec in WORKLOADS:
        return WORKLOADS[spec]
    path, _, name = spec.partition(":") if not Path(spec).exists() else (spec, "", "")
    if Path(path).suffix.lower() in (".toml", ".json", ".csv"):
        found = load_workloads(path)
        if name:
            if name not in found:
                raise WorkloadError(
                    f"{path}: no workload {name!r}; expected one of {', '.join(found)}"
                )
            return found[name]
        if len(found) > 1:
            raise WorkloadError(
                f"{path} defines {len(found)} workloads; pick one as '{path}:NAME' from "
                f"{', '.join(found)}"
            )
        return next(iter(found.values()))
    raise WorkloadError(
        f"unknown workload {spec!r}; expected a file (.toml/.json/.csv) or one of "
        f"{', '.join(WORKLOADS)}"
    )
