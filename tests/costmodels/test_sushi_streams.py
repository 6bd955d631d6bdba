"""Query streams and trace files (costmodels.sushi._streams)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from costmodels.sushi import StreamSpec, TraceError, generate_trace, load_trace, save_trace


def _lag1(x: np.ndarray) -> float:
    return float(np.corrcoef(x[:-1], x[1:])[0, 1])


def test_seeded_and_reproducible() -> None:
    a = generate_trace(StreamSpec(seed=3, n_queries=500))
    b = generate_trace(StreamSpec(seed=3, n_queries=500))
    c = generate_trace(StreamSpec(seed=4, n_queries=500))
    assert np.array_equal(a.target_q, b.target_q) and np.array_equal(a.is_latency, b.is_latency)
    assert not np.array_equal(a.target_q, c.target_q)


def test_locality_controls() -> None:
    n = 20_000
    iid = generate_trace(StreamSpec(kind="iid", n_queries=n, jitter=0.0))
    ar_lo = generate_trace(StreamSpec(kind="ar1", phi=0.3, n_queries=n, jitter=0.0))
    ar_hi = generate_trace(StreamSpec(kind="ar1", phi=0.99, n_queries=n, jitter=0.0))
    assert abs(_lag1(iid.target_q)) < 0.03
    assert _lag1(ar_lo.target_q) < _lag1(ar_hi.target_q)
    assert _lag1(ar_hi.target_q) > 0.95
    # AR(1) through the normal CDF keeps a uniform marginal
    assert np.histogram(ar_lo.target_q, bins=4, range=(0, 1))[0].min() > 0.2 * n
    mk = generate_trace(StreamSpec(kind="markov", dwell=100.0, n_queries=n, jitter=0.0))
    switches = np.count_nonzero(np.diff(mk.target_q))
    assert 0.7 * n / 100 < switches < 1.3 * n / 100  # mean dwell ~ 100 queries
    assert set(np.round(mk.target_q, 6)) <= {
        0.1,
        round(0.1 + 0.8 / 3, 6),
        round(0.1 + 1.6 / 3, 6),
        0.9,
    }


def test_mode_mix_and_arrivals() -> None:
    t = generate_trace(StreamSpec(latency_share=0.25, n_queries=8000, rate_qps=50.0))
    assert t.is_latency.mean() == pytest.approx(0.25, abs=0.02)
    assert np.all(np.diff(t.t_arrival_s) >= 0)
    assert t.t_arrival_s[-1] / len(t) == pytest.approx(1 / 50.0, rel=0.05)
    bursty = generate_trace(StreamSpec(bursty=True, n_queries=8000, rate_qps=50.0))
    assert bursty.t_arrival_s[-1] < t.t_arrival_s[-1]  # bursts raise the mean rate


def test_bad_spec_names_field() -> None:
    with pytest.raises(TraceError, match="phi=1.5"):
        StreamSpec(phi=1.5)
    with pytest.raises(TraceError, match="kind='poisson'"):
        StreamSpec(kind="poisson")


def test_save_load_round_trip(tmp_path: Path) -> None:
    t = generate_trace(StreamSpec(n_queries=300, seed=9))
    path = save_trace(t, tmp_path / "trace.csv")
    back = load_trace(path)
    assert np.array_equal(back.target_q, t.target_q)
    assert np.array_equal(back.is_latency, t.is_latency)
    assert np.array_equal(back.t_arrival_s, t.t_arrival_s)
    assert back.descriptor["generator"]["seed"] == 9


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "line 1: expected '# sushi-trace v1"),
        ("# sushi-trace v1 {bad\nt_arrival_s,mode,target_q\n", "line 1: descriptor is not valid"),
        ("# sushi-trace v1 {}\nt,mode,q\n0,latency,0.5\n", "line 2: expected header"),
        ("# sushi-trace v1 {}\nt_arrival_s,mode,target_q\n0,latency\n", "line 3: expected 3"),
        ("# sushi-trace v1 {}\nt_arrival_s,mode,target_q\n0,fast,0.5\n", "line 3: mode 'fast'"),
        ("# sushi-trace v1 {}\nt_arrival_s,mode,target_q\n0,latency,x\n", "line 3: t_arrival_s"),
        ("# sushi-trace v1 {}\nt_arrival_s,mode,target_q\n0,latency,nan\n", "line 3: values"),
        ("# sushi-trace v1 {}\nt_arrival_s,mode,target_q\n", "no queries"),
        (
            "# sushi-trace v1 {}\nt_arrival_s,mode,target_q\n1,latency,0.5\n\n0,latency,0.5\n",
            "line 5: arrival times must not decrease",
        ),
    ],
)
def test_malformed_trace_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(TraceError, match=f"bad.csv: {message}" if "line" in message else message):
        load_trace(path)


def test_missing_trace_file(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="nope.csv: cannot read"):
        load_trace(tmp_path / "nope.csv")
