"""Weight-shared SuperNets as per-layer numpy tables: OFA-MobileNetV3 (w1.0, w1.2), OFA-ResNet50.

Every SubNet of a SuperNet is laid out on the same fixed list of layer *slots* (one slot per
weight tensor the SuperNet can hold); an inactive slot (a skipped block, a layer without SE) has
zero channels. A set of ``S`` SubNets is therefore a handful of ``[S, L]`` integer arrays:

* ``out_ch``, ``in_ch`` (per group), ``taps`` (``k*k``): the weight tensor's dimensions, so
  ``weights = out_ch * in_ch * taps + bias * out_ch`` parameters;
* ``out_px``: output pixels; ``in_act``/``out_act``: input and output feature-map elements;
* the slot's fixed ``kind`` (dense conv, depthwise conv, pointwise-on-a-vector) and ``stride``.

MACs are ``out_ch * in_ch * taps * out_px`` (a depthwise slot has ``in_ch = 1``).

**Definitions** (source: ``mit-han-lab/once-for-all``, ``ofa/imagenet_classification/elastic_nn/
networks/ofa_mbv3.py``, ``ofa_resnets.py`` and ``dynamic_layers.py``; reference notes
``sushi.md`` section 1):

* OFA-MobileNetV3: stem 3x3/2 conv 3->16, a fixed MBConv1 block (3x3 depthwise, 16->16), five
  elastic stages (widths 24, 40, 80, 112, 160; strides 2, 2, 2, 1, 2; squeeze-excite in stages 2,
  4, 5) of 2-4 MBConv blocks with expand ratio {3, 4, 6} and depthwise kernel {3, 5, 7}, then the
  head 1x1 160->960, 960->1280 (on the pooled vector) and the 1280->1000 classifier. Mid width
  ``make_divisible(round(C_in * e), 8)``; SE squeeze ``make_divisible(mid // 4, 8)`` with biases.
  ``w1.2`` scales every width by 1.2 (``make_divisible(., 8)``); resolutions 128-224 (w1.2:
  160-224) in steps of 4.
* OFA-ResNet50 (ResNet50-D): stem 3x3/2 conv 3->m, a skippable 3x3 m->m, 3x3 m->c (m, c from width
  multiplier {0.65, 0.8, 1.0}), 3x3/2 max-pool, four stages of 2+d, 2+d, 4+d, 2+d bottleneck
  blocks (d in {0, 1, 2}; widths 256, 512, 1024, 2048 times the stage's width multiplier; strides
  1, 2, 2, 2), mid width ``make_divisible(round(C_out * e), 8)`` with e in {0.2, 0.25, 0.35}, an
  avg-pool + 1x1 down-sample conv on each stage's first block, and the classifier.

Not modelled (documented assumption): BatchNorm parameters (folded into the conv at int8
inference) and the MBv3 kernel-transform matrices (25x25 and 9x9 per block, about 14 K parameters
in all, under 0.2 % of the smallest SubNet).

**Weight nesting** (OFA ``dynamic_op.py``): a SubNet uses a prefix of the SuperNet's weights in
every dimension (first channels, first blocks, centre taps). The bytes two SubNets share in a slot
are therefore exactly ``prod(min(dim_a, dim_b))`` (:func:`shared_params`), and the SubGraph
common to a set of SubNets is the element-wise minimum of their configurations
(:func:`common_subgraph`). For MBv3 both agree exactly (the mid width is monotone in ``e`` and the
stage widths are fixed); for ResNet50 the mid width of the min config can round below the
per-dimension minimum, so :func:`shared_params` is the exact figure and the min config a valid
SubNet contained in both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


__all__ = [
    "SUPERNETS",
    "LayerTable",
    "SubNetConfigs",
    "SuperNet",
    "common_subgraph",
    "get_supernet",
    "make_divisible",
    "shared_params",
]

# Slot kinds: a dense (or 1x1) convolution, a depthwise convolution, a pointwise layer on the
# pooled vector (SE, feature mix, classifier; out_px = 1).
DENSE, DEPTHWISE, VECTOR = 0, 1, 2
KIND_NAMES = ("dense", "depthwise", "vector")


def make_divisible(v: np.ndarray | float, divisor: int = 8) -> np.ndarray:
    """OFA's ``make_divisible`` (round to a multiple of 8, never more than 10 % down)."""
    v = np.asarray(v, dtype=np.float64)
    new_v = np.maximum(divisor, np.floor((v + divisor / 2) / divisor) * divisor)
    return (new_v + np.where(new_v < 0.9 * v, divisor, 0)).astype(np.int64)


def _round_half_even(x: np.ndarray) -> np.ndarray:
    # Python's round(), which OFA applies before make_divisible.
    return np.round(np.asarray(x, dtype=np.float64))


@dataclass(frozen=True)
class SubNetConfigs:
    """``S`` SubNet configurations of one SuperNet, columnar.

    Attributes:
        supernet: Name of the SuperNet.
        d: Depth choices ``[S, n_d]`` (MBv3: blocks per stage 2-4; ResNet50: extra blocks 0-2
            for the stem skip and the four stages).
        e: Expand ratios ``[S, n_blocks]``.
        k: Depthwise kernel sizes ``[S, n_blocks]`` (MBv3; ``[S, 0]`` for ResNet50).
        w: Width-multiplier indices ``[S, 6]`` (ResNet50; ``[S, 0]`` for MBv3).
        r: Input resolution in pixels ``[S]``.
    """

    supernet: str
    d: np.ndarray
    e: np.ndarray
    k: np.ndarray
    w: np.ndarray
    r: np.ndarray

    def __len__(self) -> int:
        return len(self.r)

    def take(self, idx: np.ndarray | Sequence[int]) -> SubNetConfigs:
        """The SubNets at positions ``idx``."""
        i = np.asarray(idx, dtype=np.int64)
        return SubNetConfigs(self.supernet, self.d[i], self.e[i], self.k[i], self.w[i], self.r[i])

    def as_records(self) -> list[dict[str, object]]:
        """One plain dict per SubNet (the native form written by export)."""
        return [
            {
                "d": self.d[i].tolist(),
                "e": self.e[i].tolist(),
                "k": self.k[i].tolist(),
                "w": self.w[i].tolist(),
                "r": int(self.r[i]),
            }
            for i in range(len(self))
        ]

    @staticmethod
    def concat(parts: Sequence[SubNetConfigs]) -> SubNetConfigs:
        first = parts[0]
        return SubNetConfigs(
            first.supernet,
            np.concatenate([p.d for p in parts]),
            np.concatenate([p.e for p in parts]),
            np.concatenate([p.k for p in parts]),
            np.concatenate([p.w for p in parts]),
            np.concatenate([p.r for p in parts]),
        )


def common_subgraph(configs: SubNetConfigs) -> SubNetConfigs:
    """The SubGraph shared by every SubNet of ``configs``: the element-wise minimum config."""
    return SubNetConfigs(
        configs.supernet,
        configs.d.min(axis=0, keepdims=True),
        configs.e.min(axis=0, keepdims=True),
        configs.k.min(axis=0, keepdims=True),
        configs.w.min(axis=0, keepdims=True),
        configs.r.min(axis=0, keepdims=True),
    )


@dataclass(frozen=True)
class LayerTable:
    """Per-slot tensor dimensions and sizes of ``S`` SubNets (all ``[S, L]`` unless noted)."""

    out_ch: np.ndarray
    in_ch: np.ndarray
    taps: np.ndarray
    out_px: np.ndarray
    in_act: np.ndarray
    out_act: np.ndarray
    bias: np.ndarray  # [L] bool: the slot's tensor has a bias vector
    kind: np.ndarray  # [L] DENSE / DEPTHWISE / VECTOR
    stride: np.ndarray  # [L]
    names: tuple[str, ...]  # [L]

    @property
    def params(self) -> np.ndarray:
        """Parameters per slot ``[S, L]`` (weights plus biases)."""
        return self.out_ch * self.in_ch * self.taps + self.bias * self.out_ch

    @property
    def macs(self) -> np.ndarray:
        """Multiply-accumulates per slot ``[S, L]``."""
        return self.out_ch * self.in_ch * self.taps * self.out_px

    @property
    def act_elems(self) -> np.ndarray:
        """Input plus output feature-map elements per slot ``[S, L]``."""
        return self.in_act + self.out_act


def shared_params(a: LayerTable, b: LayerTable) -> np.ndarray:
    """Exact parameters shared by each SubNet of ``a`` with each of ``b``, per slot ``[A, B, L]``.

    Nested prefixes share ``min`` of each dimension (0 when a slot is inactive in either).
    """
    o = np.minimum(a.out_ch[:, None, :], b.out_ch[None, :, :])
    c = np.minimum(a.in_ch[:, None, :], b.in_ch[None, :, :])
    t = np.minimum(a.taps[:, None, :], b.taps[None, :, :])
    return o * c * t + a.bias[None, None, :] * o


class _SlotBuilder:
    """Accumulates slot columns while walking a SuperNet definition (vectorized over S)."""

    def __init__(self, s: int) -> None:
        self.s = s
        self.cols: dict[str, list[np.ndarray]] = {
            k: [] for k in ("out_ch", "in_ch", "taps", "out_px", "in_act", "out_act")
        }
        self.bias: list[bool] = []
        self.kind: list[int] = []
        self.stride: list[int] = []
        self.names: list[str] = []

    def add(
        self,
        name: str,
        kind: int,
        out_ch: np.ndarray | int,
        in_ch: np.ndarray | int,
        k: np.ndarray | int,
        in_hw: np.ndarray,
        stride: int = 1,
        bias: bool = False,
        active: np.ndarray | bool = True,
    ) -> np.ndarray:
        """Add one slot; returns its output spatial size (side length)."""
        on = np.broadcast_to(np.asarray(active, dtype=bool), (self.s,))
        out_ch = np.where(on, np.broadcast_to(out_ch, (self.s,)), 0).astype(np.int64)
        in_ch = np.where(on, np.broadcast_to(in_ch, (self.s,)), 0).astype(np.int64)
        k = np.broadcast_to(np.asarray(k, dtype=np.int64), (self.s,))
        out_hw = -(-np.asarray(in_hw, dtype=np.int64) // stride)  # ceil: OFA's "same" padding
        px = out_hw * out_hw if kind != VECTOR else np.ones(self.s, dtype=np.int64)
        in_px = in_hw * in_hw if kind != VECTOR else np.ones(self.s, dtype=np.int64)
        groups_in = out_ch if kind == DEPTHWISE else in_ch
        self.cols["out_ch"].append(out_ch)
        self.cols["in_ch"].append(np.where(on, 1, 0) if kind == DEPTHWISE else in_ch)
        self.cols["taps"].append(np.where(on, k * k, 0))
        self.cols["out_px"].append(np.where(on, px, 0))
        self.cols["in_act"].append(np.where(on, groups_in * in_px, 0))
        self.cols["out_act"].append(np.where(on, out_ch * px, 0))
        self.bias.append(bias)
        self.kind.append(kind)
        self.stride.append(stride)
        self.names.append(name)
        return np.where(on, out_hw, in_hw)

    def table(self) -> LayerTable:
        cols = {k: np.stack(v, axis=1) for k, v in self.cols.items()}
        return LayerTable(
            bias=np.asarray(self.bias, dtype=np.int64),
            kind=np.asarray(self.kind, dtype=np.int64),
            stride=np.asarray(self.stride, dtype=np.int64),
            names=tuple(self.names),
            **cols,
        )


@dataclass(frozen=True)
class SuperNet:
    """One weight-shared SuperNet: its choices and how to lay a SubNet out on slots."""

    name: str
    family: str  # "mbv3" or "resnet50"
    width_mult: float
    resolutions: tuple[int, ...]
    d_choices: tuple[int, ...]
    e_choices: tuple[float, ...]
    k_choices: tuple[int, ...]
    w_choices: tuple[float, ...]
    n_d: int
    n_blocks: int
    n_w: int
    doc: str

    # -- sampling --------------------------------------------------------------------------------
    def sample(self, rng: np.random.Generator, n: int) -> SubNetConfigs:
        """``n`` uniform random SubNets (every elastic choice independent and uniform)."""
        d = np.asarray(self.d_choices)[rng.integers(0, len(self.d_choices), (n, self.n_d))]
        e = np.asarray(self.e_choices)[rng.integers(0, len(self.e_choices), (n, self.n_blocks))]
        nk = self.n_blocks if self.k_choices else 0
        k_vals = np.asarray(self.k_choices or (0,))
        k = k_vals[rng.integers(0, len(k_vals), (n, nk))]
        w = rng.integers(0, max(1, len(self.w_choices)), (n, self.n_w))
        r = np.asarray(self.resolutions)[rng.integers(0, len(self.resolutions), n)]
        return SubNetConfigs(
            self.name,
            d.astype(np.int64),
            e.astype(np.float64),
            k.astype(np.int64),
            w.astype(np.int64),
            r.astype(np.int64),
        )

    def extreme(self, largest: bool, resolution: int | None = None) -> SubNetConfigs:
        """The largest or the smallest SubNet (at ``resolution``, default the max or min)."""
        pick = max if largest else min
        r = resolution if resolution is not None else pick(self.resolutions)
        nk = self.n_blocks if self.k_choices else 0
        return SubNetConfigs(
            self.name,
            np.full((1, self.n_d), pick(self.d_choices), dtype=np.int64),
            np.full((1, self.n_blocks), pick(self.e_choices), dtype=np.float64),
            np.full((1, nk), pick(self.k_choices) if self.k_choices else 0, dtype=np.int64),
            np.full((1, self.n_w), (len(self.w_choices) - 1) if largest else 0, dtype=np.int64),
            np.asarray([r], dtype=np.int64),
        )

    def validate(self, cfg: SubNetConfigs) -> None:
        """Raise ``ValueError`` naming the first field outside this SuperNet's choices."""
        nk = self.n_blocks if self.k_choices else 0
        shapes = {"d": self.n_d, "e": self.n_blocks, "k": nk, "w": self.n_w}
        for field_name, width in shapes.items():
            arr = getattr(cfg, field_name)
            if arr.ndim != 2 or arr.shape[1] != width:
                raise ValueError(
                    f"{self.name}: SubNet field {field_name!r} needs {width} values per SubNet, "
                    f"got shape {arr.shape}"
                )
        checks = {
            "d": self.d_choices,
            "e": self.e_choices,
            "k": self.k_choices,
            "w": tuple(range(len(self.w_choices))),
            "r": self.resolutions,
        }
        for field_name, allowed in checks.items():
            arr = getattr(cfg, field_name)
            bad = ~np.isin(arr, np.asarray(allowed))
            if arr.size and bad.any():
                raise ValueError(
                    f"{self.name}: SubNet field {field_name!r} has value {arr[bad][0]!r}; "
                    f"expected one of {list(allowed)}"
                )

    # -- layer tables ----------------------------------------------------------------------
    def layers(self, cfg: SubNetConfigs) -> LayerTable:
        """Per-slot table of the SubNets ``cfg``."""
        if self.family == "mbv3":
            return self._mbv3_layers(cfg)
        return self._resnet_layers(cfg)

    def _mbv3_layers(self, cfg: SubNetConfigs) -> LayerTable:
        wm = self.width_mult
        base = [16, 16, 24, 40, 80, 112, 160]
        widths = [int(make_divisible(b * wm)) for b in base]
        final_expand = int(make_divisible(960 * wm))
        last = int(make_divisible(1280 * wm)) if wm > 1.0 else 1280
        strides = [2, 2, 2, 1, 2]
        se = [False, True, False, True, True]
        s = len(cfg)
        b = _SlotBuilder(s)
        hw = b.add("stem", DENSE, widths[0], 3, 3, cfg.r, stride=2)
        hw = b.add("first.dw", DEPTHWISE, widths[0], 1, 3, hw)
        hw = b.add("first.pw", DENSE, widths[1], widths[0], 1, hw)
        c_in = widths[1]
        for st in range(5):
            c_out = widths[st + 2]
            for blk in range(4):
                j = 4 * st + blk
                on = cfg.d[:, st] > blk
                stride = strides[st] if blk == 0 else 1
                cin = c_in if blk == 0 else c_out
                mid = make_divisible(_round_half_even(cin * cfg.e[:, j]))
                tag = f"s{st + 1}.b{blk + 1}"
                hw_in = hw
                b.add(f"{tag}.expand", DENSE, mid, cin, 1, hw_in, active=on)
                hw_mid = b.add(
                    f"{tag}.dw", DEPTHWISE, mid, 1, cfg.k[:, j], hw_in, stride, active=on
                )
                sq = make_divisible(mid // 4)
                se_on = on & se[st]
                b.add(f"{tag}.se_reduce", VECTOR, sq, mid, 1, hw_mid, bias=True, active=se_on)
                b.add(f"{tag}.se_expand", VECTOR, mid, sq, 1, hw_mid, bias=True, active=se_on)
                hw = b.add(f"{tag}.project", DENSE, c_out, mid, 1, hw_mid, active=on)
            c_in = c_out
        hw = b.add("head.expand", DENSE, final_expand, c_in, 1, hw)
        b.add("head.feature_mix", VECTOR, last, final_expand, 1, hw)
        b.add("head.classifier", VECTOR, 1000, last, 1, hw, bias=True)
        return b.table()

    def _resnet_layers(self, cfg: SubNetConfigs) -> LayerTable:
        wms = np.asarray(self.w_choices)
        stem_out = make_divisible(64 * wms)  # per width index
        stem_mid = make_divisible(stem_out // 2)
        stage_w = [make_divisible(w * wms) for w in (256, 512, 1024, 2048)]
        base_depth = [2, 2, 4, 2]
        strides = [1, 2, 2, 2]
        max_extra = max(self.d_choices)
        s = len(cfg)
        b = _SlotBuilder(s)
        m = stem_mid[cfg.w[:, 0]]
        c = stem_out[cfg.w[:, 1]]
        hw = b.add("stem.conv1", DENSE, m, 3, 3, cfg.r, stride=2)
        b.add("stem.conv2", DENSE, m, m, 3, hw, active=cfg.d[:, 0] == max_extra)
        hw = b.add("stem.conv3", DENSE, c, m, 3, hw)
        hw = -(-hw // 2)  # 3x3/2 max-pool (no weights)
        c_in = c
        j = 0
        for st in range(4):
            c_out = stage_w[st][cfg.w[:, st + 2]]
            for blk in range(base_depth[st] + max_extra):
                on = blk < base_depth[st] + cfg.d[:, st + 1]
                stride = strides[st] if blk == 0 else 1
                cin = c_in if blk == 0 else c_out
                mid = make_divisible(_round_half_even(c_out * cfg.e[:, j]))
                tag = f"s{st + 1}.b{blk + 1}"
                b.add(f"{tag}.conv1", DENSE, mid, cin, 1, hw, active=on)
                hw2 = b.add(f"{tag}.conv2", DENSE, mid, mid, 3, hw, stride, active=on)
                b.add(f"{tag}.conv3", DENSE, c_out, mid, 1, hw2, active=on)
                # ResNet-D down-sampling: avg-pool then 1x1 conv on the first block of a stage.
                b.add(f"{tag}.downsample", DENSE, c_out, cin, 1, hw2, active=on & (blk == 0))
                hw = hw2
                j += 1
            c_in = c_out
        b.add("classifier", VECTOR, 1000, c_in, 1, hw, bias=True)
        return b.table()


_OFA_RES = tuple(range(128, 225, 4))  # OFA's elastic resolutions, stride 4


def _ofa_mbv3(width_mult: float, min_res: int) -> SuperNet:
    """``ofa_mbv3_d234_e346_k357_w{width_mult}``: depth {2,3,4}, expand {3,4,6}, kernel
    {3,5,7} on 5 stages of up to 4 blocks."""
    name = f"ofa_mbv3_w{width_mult}"
    return SuperNet(
        name,
        "mbv3",
        width_mult,
        tuple(r for r in _OFA_RES if r >= min_res),
        (2, 3, 4),
        (3.0, 4.0, 6.0),
        (3, 5, 7),
        (),
        n_d=5,
        n_blocks=20,
        n_w=0,
        doc=f"OFA MobileNetV3 (ofa_mbv3_d234_e346_k357_w{width_mult}), resolutions {min_res}-224",
    )


SUPERNETS: dict[str, SuperNet] = {
    "ofa_mbv3_w1.0": _ofa_mbv3(1.0, 128),
    "ofa_mbv3_w1.2": _ofa_mbv3(1.2, 160),
    "ofa_resnet50": SuperNet(
        "ofa_resnet50",
        "resnet50",
        1.0,
        _OFA_RES,
        (0, 1, 2),
        (0.2, 0.25, 0.35),
        (),
        (0.65, 0.8, 1.0),
        n_d=5,
        n_blocks=18,
        n_w=6,
        doc="OFA ResNet50-D (ofa_resnet50), resolutions 128-224",
    ),
}


def get_supernet(name: str) -> SuperNet:
    """The SuperNet called ``name``.

    Raises:
        ValueError: naming the unknown SuperNet and listing the known ones.
    """
    try:
        return SUPERNETS[name]
    except KeyError:
        raise ValueError(
            f"unknown supernet {name!r}; expected one of {', '.join(SUPERNETS)}"
        ) from None
