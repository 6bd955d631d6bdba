"""Seeded query streams with temporal locality, and trace files.

A query is ``(t_arrival_s, mode, target_q)``:

* ``mode`` is ``"latency"`` (strict latency SLO: serve the most accurate SubNet that meets it)
  or ``"accuracy"`` (strict accuracy floor: serve the fastest SubNet that meets it);
* ``target_q`` is the target as a *quantile of the SubNet pool's range*: a latency target
  ``L_min + q (L_max - L_min)`` over the pool's no-buffer latencies at the hardware point, an
  accuracy floor ``A_min + q (A_max - A_min)`` over the pool's accuracies. One trace therefore
  fits every hardware point (reference notes section 8, "Scaling"). ``q`` outside ``[0, 1]`` is
  allowed: ``q < 0`` for a latency target (or ``q > 1`` for an accuracy floor) is a target no
  SubNet meets, which the scheduler counts as an SLO miss.

Demand level ``u_t`` in ``[0, 1]`` (where in the pool the query wants to be; high ``u``: a loose
latency budget or a high accuracy floor) follows one of (reference notes section 8):

* ``"ar1"``: ``z_t = phi z_{t-1} + sqrt(1 - phi^2) eps_t`` (stationary N(0, 1)), ``u = Phi(z)``,
  so the marginal is uniform and ``phi`` alone sets the locality;
* ``"markov"``: regime switching among ``n_regimes`` demand levels evenly spaced in
  ``[0.1, 0.9]``; each query leaves its regime with probability ``1 / dwell`` (geometric dwell
  time of mean ``dwell`` queries) for a uniformly chosen other regime;
* ``"iid"``: uniform, the no-locality control.

``target_q = u_t + jitter * U(-1, 1)`` (per-query jitter, default 5 %). Modes are i.i.d. with
``P(latency) = latency_share``. Arrivals are Poisson at ``rate_qps`` or, with ``bursty``, a
two-state Markov-modulated Poisson process (bursts at 4x the rate, 10 % of the time; assumed).

Trace files are CSV: a first line ``# sushi-trace v1 <json descriptor>`` then the header
``t_arrival_s,mode,target_q`` and one row per query. :func:`load_trace` rejects anything else with
a :class:`TraceError` naming the file and line.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.signal import lfilter
from scipy.special import ndtr


__all__ = [
    "STREAM_KINDS",
    "StreamSpec",
    "Trace",
    "TraceError",
    "generate",
    "load_trace",
    "save_trace",
]

STREAM_KINDS = ("ar1", "markov", "iid")
_MAGIC = "# sushi-trace v1"
_HEADER = "t_arrival_s,mode,target_q"
_BURST_FACTOR = 4.0  # assumed MMPP burst rate multiplier
_BURST_SHARE = 0.1  # assumed share of time in the burst state
_BURST_DWELL = 200.0  # assumed mean queries per MMPP state visit (normal state)


class TraceError(ValueError):
    """A trace file or stream specification is malformed; the message names it."""


@dataclass(frozen=True)
class StreamSpec:
    """Parameters of a synthetic query stream (see the module docstring)."""

    kind: str = "markov"
    n_queries: int = 10_000
    phi: float = 0.99
    dwell: float = 200.0
    n_regimes: int = 4
    latency_share: float = 0.5
    jitter: float = 0.05
    rate_qps: float = 100.0
    bursty: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in STREAM_KINDS:
            raise TraceError(f"stream kind={self.kind!r}: expected one of {STREAM_KINDS}")
        checks = [
            ("n_queries", self.n_queries >= 1, "an integer >= 1"),
            ("phi", 0.0 <= self.phi < 1.0, "a number in [0, 1)"),
            ("dwell", self.dwell >= 1.0, "a number >= 1"),
            ("n_regimes", self.n_regimes >= 1, "an integer >= 1"),
            ("latency_share", 0.0 <= self.latency_share <= 1.0, "a number in [0, 1]"),
            ("jitter", 0.0 <= self.jitter <= 1.0, "a number in [0, 1]"),
            ("rate_qps", self.rate_qps > 0.0, "a number > 0"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise TraceError(f"stream {name}={getattr(self, name)!r}: expected {expected}")


@dataclass(frozen=True)
class Trace:
    """A query trace (arrays of length ``T``)."""

    t_arrival_s: np.ndarray
    is_latency: np.ndarray  # bool: latency-SLO query (else accuracy floor)
    target_q: np.ndarray
    descriptor: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.target_q)


def _demand(spec: StreamSpec, rng: np.random.Generator) -> np.ndarray:
    n = spec.n_queries
    if spec.kind == "iid":
        return rng.random(n)
    if spec.kind == "ar1":
        eps = rng.standard_normal(n)
        z = lfilter([math.sqrt(1.0 - spec.phi**2)], [1.0, -spec.phi], eps)
        # start in the stationary distribution, not at 0
        z = z + rng.standard_normal() * spec.phi ** np.arange(1, n + 1)
        return np.asarray(ndtr(z))
    levels = np.linspace(0.1, 0.9, spec.n_regimes) if spec.n_regimes > 1 else np.asarray([0.5])
    leave = rng.random(n) < 1.0 / spec.dwell
    leave[0] = True
    n_jumps = int(leave.sum())
    # a jump moves to one of the other regimes, uniformly
    steps = (
        rng.integers(1, max(2, spec.n_regimes), n_jumps)
        if spec.n_regimes > 1
        else np.zeros(n_jumps, dtype=np.int64)
    )
    regime_at_jump = np.cumsum(steps) % spec.n_regimes
    regime = regime_at_jump[np.cumsum(leave) - 1]
    return levels[regime]


def _arrivals(spec: StreamSpec, rng: np.random.Generator) -> np.ndarray:
    n = spec.n_queries
    rate = np.full(n, spec.rate_qps)
    if spec.bursty:
        # two-state MMPP: per-query switching with mean dwell set so the burst share holds
        p_enter = 1.0 / _BURST_DWELL
        p_leave = p_enter * (1.0 - _BURST_SHARE) / _BURST_SHARE
        u = rng.random(n)
        state = np.zeros(n, dtype=bool)
        s = False
        for i in range(n):  # sequential state walk over queries (not over design points)
            s = (u[i] >= p_leave) if s else (u[i] < p_enter)
            state[i] = s
        rate = np.where(state, spec.rate_qps * _BURST_FACTOR, spec.rate_qps)
    gaps = rng.exponential(1.0, n) / rate
    return np.cumsum(gaps) - gaps[0]


def generate(spec: StreamSpec) -> Trace:
    """The seeded trace of ``spec`` (same spec, same trace)."""
    rng = np.random.default_rng(spec.seed)
    u = _demand(spec, rng)
    target = u + spec.jitter * rng.uniform(-1.0, 1.0, spec.n_queries)
    is_lat = rng.random(spec.n_queries) < spec.latency_share
    t = _arrivals(spec, rng)
    return Trace(t, is_lat, target, {"generator": asdict(spec)})


def save_trace(trace: Trace, path: str | Path) -> Path:
    """Write ``trace`` as a CSV trace file (descriptor in the first line)."""
    path = Path(path)
    mode = np.where(trace.is_latency, "latency", "accuracy")
    with path.open("w") as fh:
        fh.write(f"{_MAGIC} {json.dumps(trace.descriptor, sort_keys=True)}\n{_HEADER}\n")
        for t, m, q in zip(
            trace.t_arrival_s.tolist(), mode.tolist(), trace.target_q.tolist(), strict=True
        ):
            fh.write(f"{t!r},{m},{q!r}\n")
    return path


def load_trace(path: str | Path) -> Trace:
    """Read a trace file written by :func:`save_trace` (or by hand in the same format).

    Raises:
        TraceError: naming the file, the line and what was expected.
    """
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(f"trace file {path}: cannot read ({exc})") from None
    if not lines or not lines[0].startswith(_MAGIC):
        raise TraceError(f"trace file {path}: line 1: expected '{_MAGIC} <json descriptor>'")
    try:
        descriptor = json.loads(lines[0][len(_MAGIC) :].strip() or "{}")
    except json.JSONDecodeError:
        raise TraceError(f"trace file {path}: line 1: descriptor is not valid JSON") from None
    if len(lines) < 2 or lines[1].strip() != _HEADER:
        raise TraceError(f"trace file {path}: line 2: expected header '{_HEADER}'")
    t, lat, q, nos = [], [], [], []
    for no, line in enumerate(lines[2:], start=3):
        if not line.strip():
            continue
        parts = line.split(",")
        if len(parts) != 3:
            raise TraceError(f"trace file {path}: line {no}: expected 3 fields, got {len(parts)}")
        try:
            tv, qv = float(parts[0]), float(parts[2])
        except ValueError:
            raise TraceError(
                f"trace file {path}: line {no}: t_arrival_s and target_q must be numbers"
            ) from None
        mode = parts[1].strip()
        if mode not in ("latency", "accuracy"):
            raise TraceError(
                f"trace file {path}: line {no}: mode {mode!r}: expected 'latency' or 'accuracy'"
            )
        if not (math.isfinite(tv) and math.isfinite(qv)):
            raise TraceError(f"trace file {path}: line {no}: values must be finite")
        t.append(tv)
        nos.append(no)
        lat.append(mode == "latency")
        q.append(qv)
    if not q:
        raise TraceError(f"trace file {path}: no queries")
    ta = np.asarray(t)
    if (np.diff(ta) < 0).any():
        bad = nos[int(np.flatnonzero(np.diff(ta) < 0)[0]) + 1]
        raise TraceError(f"trace file {path}: line {bad}: arrival times must not decrease")
    return Trace(ta, np.asarray(lat), np.asarray(q), descriptor)
