"""The compiled SUSHI kernels (costmodels.sushi._serve_kernel): numpy's own sums and
percentile, value for value; the reference's results with the other fallback; a cached
kernel reloaded by a new process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from costmodels.sushi import SushiModel
from costmodels.sushi._serve_kernel import _percentile_f32, pairwise_sum
from search_spaces import domain


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 15, 16, 127, 128, 129, 300, 1000, 2000, 10_000])
def test_pairwise_sum_is_numpys_sum_bit_for_bit(n: int) -> None:
    rng = np.random.default_rng(n)
    rows = rng.exponential(size=(5, n)) * 10.0 ** rng.integers(-3, 4, size=(5, 1))
    want = rows.sum(axis=1)
    got = np.array([0.0 + pairwise_sum(r, 0, n) for r in rows])
    assert np.array_equal(got, want)


@pytest.mark.parametrize("n", [100, 1000, 2000, 10_000])
def test_percentile_is_numpys_linear_percentile_bit_for_bit(n: int) -> None:
    rng = np.random.default_rng(n)
    for vals in (
        rng.exponential(size=n).astype(np.float32),
        rng.choice(rng.uniform(1, 9, 7), n).astype(np.float32),  # few distinct values: ties
    ):
        virtual = float((n - 1) * np.true_divide(99, 100))
        prev = int(np.floor(virtual))
        got = _percentile_f32(vals, np.empty(n - prev, np.float32), virtual, prev)
        assert got == float(np.percentile(vals, 99))


def test_fastest_fallback_equals_reference() -> None:
    space = domain("sushi")
    fast, ref = SushiModel(fallback="fastest"), SushiModel(fallback="fastest", impl="reference")
    s = space.sample(np.random.default_rng(5), 48)
    names = {p.name for p in fast.inputs}
    cols = {k: v for k, v in s.items() if k in names}
    cols["n_queries"] = np.full(48, 1000)
    b = fast.batch(**cols)
    got, want = fast.evaluate(b), ref.evaluate(b)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-12, atol=0, err_msg=name)
    assert np.array_equal(got["switch_count"], want["switch_count"])


_CHILD = """
import json, numpy as np
from costmodels.sushi import SushiModel
m = SushiModel()
pol = ["sushi", "static_pb", "no_pb", "cache_oblivious"] * 3
out = m.evaluate(m.batch(12, n_queries=300, policy=pol, update_period_q=[10, 50, 200] * 4))
print(json.dumps({k: v.tolist() for k, v in out.items()}))
"""


@pytest.mark.slow
def test_cached_kernel_reloads_in_a_new_process() -> None:
    # numba caches the compiled kernels next to the module; a second process loads them
    # (a recursive kernel once crashed there)
    root = Path(__file__).resolve().parents[2]
    runs = [
        subprocess.run(
            [sys.executable, "-c", _CHILD], cwd=root, capture_output=True, text=True, timeout=600
        )
        for _ in range(2)
    ]
    for run in runs:
        assert run.returncode == 0, run.stderr[-2000:]
    first, second = (json.loads(r.stdout) for r in runs)
    assert first == second
    assert len(first["latency_ms"]) == 12
