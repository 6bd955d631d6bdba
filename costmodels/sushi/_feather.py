"""Validation of the accelerator latency model against measured FEATHER ZCU104 layer latencies.

The data (``data/feather_zcu104_resnet50_3x3.csv``, provenance in ``data/NOTICE.md``): the 108
3x3 convolutions of six OFA-ResNet50 SubNets (resolutions 160, 160, 192, 192, 224, 224), each
timed on a ZCU104 running the FEATHER bitstream, whose HLS kernel is SushiAccel's
(``SushiAccel_K16_C9``; reference notes ``sushi.md`` section 4). Per SubNet the 3x3 layers sum
to 7.20, 9.93, 18.09, 24.56, 34.86 and 35.63 ms.

The model under test is :func:`costmodels.sushi._accelerator.slot_terms` (serialized weight
fetch, nothing cached)::

    t_layer = tau + ceil(K/16) ceil(C/9) ceil(9/9) P / (f u) + W / B

Constants and their sources:

* ``f = 100 MHz``: the PL clock of the FEATHER ZCU104 design (``End2end_Deployment``);
* PE array ``16 x 9 x 9`` (16 output channels, 9 input channels, a full 3x3 window per cycle:
  the notebook's ``PARALLELISM = [16, 9, 1]``), int8 weights (1 B);
* stride-2 layers computed at full input resolution (``stride2_full_res``; the design's output
  loop runs over input pixels);
* activations stay on chip (the unified buffer takes each layer's feature maps), so the
  ``a_off`` term is 0;
* ``u`` (pipeline efficiency), ``B`` (effective weight bandwidth) and ``tau`` (per-layer
  overhead, including the PYNQ host's polling) are **not** published. They are fitted by linear
  least squares (the latency is linear in ``tau``, ``1/u`` and ``1/B``) on the layers of the
  *other five* SubNets, then the model predicts the held-out SubNet's sum. So each of the six
  records is a held-out reproduction: the SubNet it checks was not used to fit anything.

A seventh record predicts the six SubNets' total from datasheet peaks alone (``u = 1``, the
9.6 GB/s peak of the six 128-bit AXI ports at 100 MHz, ``tau = 0``): it misses by 27 %
(the host's per-layer polling and the AXI efficiency are not in any datasheet), a documented
miss.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from costmodels._protocol import Anchor
from costmodels.sushi._accelerator import slot_terms
from costmodels.sushi._supernet import DENSE, LayerTable


__all__ = [
    "FEATHER_HW",
    "FeatherLayers",
    "feather_anchors",
    "feather_layers",
    "fit_constants",
    "predict_ms",
]

SOURCE = (
    "FEATHER ZCU104 end-to-end notebook (maeri-project/FEATHER, End2end_Deployment/"
    "feather.ipynb, commit 87aee94): measured 3x3-conv latencies of 6 OFA-ResNet50 SubNets"
)
DATA_FILE = "feather_zcu104_resnet50_3x3.csv"
TOLERANCE = 0.05
# Datasheet peak of the weight path: six 128-bit AXI masters at 100 MHz (9.6 GB/s).
AXI_PEAK_GBPS = 6 * 16 * 100e6 / 1e9
# The published design point (constants from the design itself; u, B and tau are fitted).
FEATHER_HW: dict[str, float] = {
    "pe_k": 16,
    "pe_c": 9,
    "pe_rs": 9,
    "clock_mhz": 100.0,
    "quant_bits": 8,
    "act_buf_mb": 1e9,  # feature maps stay in the on-chip unified buffer
}


@dataclass(frozen=True)
class FeatherLayers:
    """The measured layers as one layer table (one "SubNet" row whose slots are the layers).

    Attributes:
        layers: Slot dimensions ``[1, N]`` (``N`` = 108 measured layers).
        subnet: SubNet index of each slot ``[N]``.
        measured_ms: Measured latency of each slot ``[N]``.
        in_hw: Input side length of each slot ``[N]`` (the first slot's is the resolution).
    """

    layers: LayerTable
    subnet: np.ndarray
    measured_ms: np.ndarray
    in_hw: np.ndarray

    @property
    def n_subnets(self) -> int:
        return int(self.subnet.max()) + 1

    def subnet_sums(self, per_slot_ms: np.ndarray) -> np.ndarray:
        """Per-SubNet sums ``[n_subnets]`` of a per-slot latency ``[N]``."""
        return np.bincount(self.subnet, weights=per_slot_ms, minlength=self.n_subnets)


@lru_cache(maxsize=1)
def feather_layers() -> FeatherLayers:
    """The shipped measurements as a layer table."""
    text = resources.files("costmodels.sushi.data").joinpath(DATA_FILE).read_text()
    rows = list(csv.DictReader(text.splitlines()))

    def col(key: str) -> np.ndarray:
        return np.asarray([int(r[key]) for r in rows], dtype=np.int64)

    out_ch, in_ch, k, stride = col("out_ch"), col("in_ch"), col("kernel"), col("stride")
    in_hw, pad = col("in_hw"), col("padding")
    out_hw = (in_hw + 2 * pad - k) // stride + 1
    layers = LayerTable(
        out_ch=out_ch[None],
        in_ch=in_ch[None],
        taps=(k * k)[None],
        out_px=(out_hw * out_hw)[None],
        in_act=(in_ch * in_hw * in_hw)[None],
        out_act=(out_ch * out_hw * out_hw)[None],
        bias=np.zeros(len(rows), dtype=np.int64),
        kind=np.full(len(rows), DENSE, dtype=np.int64),
        stride=stride,
        names=tuple(f"subnet{r['subnet']}.layer{r['layer']}" for r in rows),
    )
    measured = np.asarray([float(r["latency_s"]) for r in rows]) * 1e3
    return FeatherLayers(layers, col("subnet"), measured, in_hw)


def _hw(util: float, bw_gbps: float, tau_us: float) -> dict[str, np.ndarray]:
    point = {**FEATHER_HW, "util_dense": util, "util_depthwise": util}
    point |= {"dram_bw_gbps": bw_gbps, "layer_overhead_us": tau_us}
    return {k: np.asarray([v]) for k, v in point.items()}


def predict_ms(data: FeatherLayers, util: float, bw_gbps: float, tau_us: float) -> np.ndarray:
    """The model's latency of each measured slot ``[N]`` in ms at the given constants."""
    return slot_terms(data.layers, _hw(util, bw_gbps, tau_us)).serial_ms()[0, 0]


def fit_constants(data: FeatherLayers, rows: np.ndarray) -> tuple[float, float, float]:
    """``(u, B in GB/s, tau in us)`` fitted by least squares on the slots ``rows`` (bool ``[N]``).

    The model's terms at ``u = 1``, ``B = 1 GB/s``, ``tau = 0`` give the design matrix: latency
    ``= tau + (1/u) t_c + (1/B) W/(1 GB/s)`` is linear in ``(tau, 1/u, 1/B)``.
    """
    terms = slot_terms(data.layers, _hw(1.0, 1.0, 0.0))
    design = np.stack(
        [
            np.ones(data.measured_ms.size),
            terms.tc_ms[0, 0],
            terms.w_bytes[0, 0] / terms.bw[0, 0, 0],
        ],
        axis=1,
    )
    (tau_ms, inv_u, inv_bw), *_ = np.linalg.lstsq(design[rows], data.measured_ms[rows], rcond=None)
    return 1.0 / inv_u, 1.0 / inv_bw, tau_ms * 1e3


def feather_anchors() -> list[Anchor]:
    """Six held-out per-SubNet sums (leave one SubNet out) and the datasheet-peak total."""
    data = feather_layers()
    measured = data.subnet_sums(data.measured_ms)
    out: list[Anchor] = []
    for s in range(data.n_subnets):
        util, bw, tau = fit_constants(data, data.subnet != s)
        modeled = data.subnet_sums(predict_ms(data, util, bw, tau))[s]
        res = int(data.in_hw[data.subnet == s][0])
        out.append(
            Anchor(
                model="sushi",
                anchor=f"FEATHER ZCU104 SubNet {s} ({res} px) 3x3-conv latency sum (ms)",
                source=SOURCE,
                published=float(np.round(measured[s], 4)),
                modeled=float(np.round(modeled, 4)),
                tolerance=TOLERANCE,
                note=(
                    f"f 100 MHz, 16x9x9 PEs, int8 (design); u {util:.3f}, B {bw:.2f} GB/s, "
                    f"tau {tau:.0f} us fitted on the other five SubNets"
                ),
                kind="held_out",
            )
        )
    peak = data.subnet_sums(predict_ms(data, 1.0, AXI_PEAK_GBPS, 0.0)).sum()
    out.append(
        Anchor(
            model="sushi",
            anchor="FEATHER ZCU104 six SubNets' 3x3-conv total from datasheet peaks (ms)",
            source=SOURCE,
            published=float(np.round(measured.sum(), 4)),
            modeled=float(np.round(peak, 4)),
            tolerance=TOLERANCE,
            note=(
                "u 1, 9.6 GB/s AXI peak, tau 0: misses because per-layer host polling "
                "(~0.1 ms) and the AXI efficiency are in no datasheet"
            ),
            kind="held_out",
            expected_miss=True,
        )
    )
    return out
