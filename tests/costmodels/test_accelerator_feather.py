"""The SUSHI accelerator latency model against measured FEATHER ZCU104 latencies."""

from __future__ import annotations

import numpy as np
import pytest

from costmodels.sushi._feather import (
    AXI_PEAK_GBPS,
    feather_anchors,
    feather_layers,
    fit_constants,
    predict_ms,
)


def test_data_are_the_six_published_subnet_sums() -> None:
    data = feather_layers()
    assert data.measured_ms.size == 108 and data.n_subnets == 6
    sums = data.subnet_sums(data.measured_ms)
    assert np.round(sums, 1).tolist() == [7.2, 9.9, 18.1, 24.6, 34.9, 35.6]


def test_fit_on_all_layers_recovers_the_documented_constants() -> None:
    data = feather_layers()
    util, bw, tau = fit_constants(data, np.ones(data.measured_ms.size, dtype=bool))
    # reference notes sushi.md section 4: 100 us + 1.141 x cycles / 100 MHz + W / 3.41 GB/s
    assert 1.0 / util == pytest.approx(1.141, abs=0.005)
    assert bw == pytest.approx(3.41, abs=0.02)
    assert tau == pytest.approx(100.0, abs=2.0)
    rel = np.abs(predict_ms(data, util, bw, tau) - data.measured_ms) / data.measured_ms
    assert rel.mean() < 0.02 and rel.max() < 0.10


def test_held_out_records_never_fit_on_the_subnet_they_check() -> None:
    data = feather_layers()
    anchors = feather_anchors()
    held = [a for a in anchors if not a.expected_miss]
    assert len(held) == 6 and all(a.kind == "held_out" and a.ok for a in held)
    # Changing the held-out SubNet's measurements must not change its prediction.
    s = 2
    perturbed = type(data)(
        data.layers,
        data.subnet,
        np.where(data.subnet == s, 2 * data.measured_ms, data.measured_ms),
        data.in_hw,
    )
    rows = data.subnet != s
    assert fit_constants(perturbed, rows) == pytest.approx(fit_constants(data, rows))


def test_datasheet_peak_record_is_a_documented_miss() -> None:
    peak = feather_anchors()[-1]
    assert peak.expected_miss and not peak.ok and peak.modeled < peak.published
    data = feather_layers()
    # Peak rates are a lower bound on every layer's measured latency.
    assert np.all(predict_ms(data, 1.0, AXI_PEAK_GBPS, 0.0) < data.measured_ms)
