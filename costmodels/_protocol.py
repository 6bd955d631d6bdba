"""The cost-model protocol: what every model declares and how it is evaluated.

A cost model is plain vectorized numpy (or torch): it imports neither optuna, ray, ``dse`` nor
``dashboards`` and is usable alone from a notebook::

    from costmodels import get_model
    model = get_model("demo")
    metrics = model.evaluate(model.batch(x=[0.1, 0.5], y=[0.2, 0.9]))

It declares

* ``inputs``: its parameters as :mod:`search_spaces` params, each with a default, a unit and
  the range the model is valid on (``dse models`` prints them; ``dse evaluate --set`` checks them);
* ``outputs``: metrics with units and default directions (``latency_ms``: minimize);
* ``constraints``: names of outputs that are violations (``<= 0`` feasible), so an infeasible
  design is a value, never an exception;

and implements ``evaluate(batch) -> dict[str, np.ndarray]`` on a whole columnar batch at once.
Published numbers the model reproduces are returned by :meth:`CostModel.anchors`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, get_args

import numpy as np

from search_spaces import Param, ParamError, UserError


__all__ = [
    "ANCHOR_KINDS",
    "Anchor",
    "AnchorKind",
    "CostModel",
    "EvalContext",
    "ModelError",
    "Output",
    "PruneRequested",
]

Direction = Literal["minimize", "maximize"]
# How a published number relates to the model (``dse validate`` prints it with every record):
# ``held_out``: reproduced without using it (no constant was chosen by looking at it);
# ``fitted``: a constant of the model was fitted on it, so agreement is expected;
# ``consistency``: it follows from the model's own equations (a check of the implementation or
# of a calibrated regime, not an independent reproduction).
AnchorKind = Literal["held_out", "fitted", "consistency"]
ANCHOR_KINDS: tuple[str, ...] = get_args(AnchorKind)


class ModelError(UserError):
    """A model was asked for something it cannot do; the message names the input."""


class PruneRequested(Exception):
    """Raised inside ``evaluate`` when the context says the trial should stop early."""


class EvalContext(Protocol):
    """What a long-running model may use while it evaluates (trial mode).

    ``report`` streams an intermediate value (step, metric values) back to the driver, which may
    prune; ``should_prune`` tells the model to stop (it then raises :class:`PruneRequested`).
    """

    def report(self, step: int, values: Mapping[str, float]) -> None: ...

    def should_prune(self) -> bool: ...


@dataclass(frozen=True)
class Output:
    """One output of a model: a metric (with unit and default direction) or a violation."""

    name: str
    unit: str = ""
    direction: Direction | None = "minimize"
    doc: str = ""


@dataclass(frozen=True)
class Anchor:
    """A published number and the model's value for it.

    ``tolerance`` is relative: the anchor holds when ``|modeled - published| <= tolerance *
    |published|``. ``kind`` (keyword, required) says how much the agreement proves, see
    :data:`AnchorKind`. ``expected_miss`` marks a miss the model documents (the record still
    reports ``ok = False``, but ``dse validate`` does not fail on it).
    """

    model: str
    anchor: str
    source: str
    published: float
    modeled: float
    tolerance: float
    note: str = ""
    kind: AnchorKind = field(kw_only=True)
    expected_miss: bool = field(default=False, kw_only=True)

    def __post_init__(self) -> None:
        if self.kind not in ANCHOR_KINDS:
            raise ValueError(
                f"anchor {self.anchor!r} of model {self.model!r}: kind={self.kind!r}, "
                f"expected one of {ANCHOR_KINDS}"
            )

    @property
    def rel_error(self) -> float:
        if self.published == 0:
            return abs(self.modeled)
        return (self.modeled - self.published) / abs(self.published)

    @property
    def ok(self) -> bool:
        return bool(math.isfinite(self.modeled) and abs(self.rel_error) <= self.tolerance)

    @property
    def failed(self) -> bool:
        """Outside tolerance and not a documented miss: what makes ``dse validate`` fail."""
        return not self.ok and not self.expected_miss

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "anchor": self.anchor,
            "source": self.source,
            "kind": self.kind,
            "published": self.published,
            "modeled": self.modeled,
            "rel_error": self.rel_error,
            "tolerance": self.tolerance,
            "ok": self.ok,
            "expected_miss": self.expected_miss,
            "note": self.note,
        }


class CostModel(ABC):
    """Base class of every cost model.

    Subclasses set the class attributes and implement :meth:`evaluate`. Constructor keyword
    arguments are the model's *options* (workload set, fidelity, ...); study files pass them
    under ``[models.NAME.options]``.
    """

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    doc: ClassVar[str] = ""
    inputs: ClassVar[tuple[Param, ...]] = ()
    outputs: ClassVar[tuple[Output, ...]] = ()
    # True for models costing seconds per point (proxy training): the engine runs them one
    # Optuna trial per point; False for microsecond analytical models, eligible for sweeps.
    expensive: ClassVar[bool] = False

    @abstractmethod
    def evaluate(
        self, batch: Mapping[str, np.ndarray], context: EvalContext | None = None
    ) -> dict[str, np.ndarray]:
        """Evaluate a columnar batch (every input present, one array entry per point).

        Returns:
            One array per declared output (metrics and constraint violations), same length as
            the batch. NaN marks a point the model could not evaluate; a model may say why by
            setting ``self.last_failures = {row: reason}`` (the engine stores the reason on the
            failed trial).
        """

    def anchors(self) -> list[Anchor]:
        """Published numbers this model reproduces, with the modeled values."""
        return []

    def check_runtime(self) -> None:
        """Raise :class:`ModelError` naming what to install when ``evaluate`` cannot run here
        (an optional dependency); a study checks it before anything is written."""

    def breakdown(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Detail rows for one design point, for dashboards' domain views.

        For example one row per layer (``{"layer": ..., "bound": "compute", "utilization": ...}``)
        or per time component. The default has no detail.
        """
        return []

    def native_config(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """A design point in the model's own configuration schema (what export writes).

        The default is the flat parameter mapping; models with a richer native schema override
        this and :meth:`from_native`.
        """
        return dict(params)

    def from_native(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Inverse of :meth:`native_config`: flat parameters from a native config."""
        return dict(config)

    # -- helpers shared by every model ------------------------------------------------------------
    @classmethod
    def input(cls, name: str) -> Param:
        for p in cls.inputs:
            if p.name == name:
                return p
        raise ModelError(
            f"model {cls.name!r} has no parameter {name!r}; expected one of "
            f"{', '.join(p.name for p in cls.inputs)}"
        )

    @classmethod
    def output(cls, name: str) -> Output:
        for o in cls.outputs:
            if o.name == name:
                return o
        raise ModelError(
            f"model {cls.name!r} has no output {name!r}; expected one of "
            f"{', '.join(o.name for o in cls.outputs)}"
        )

    @classmethod
    def constraint_names(cls) -> tuple[str, ...]:
        return tuple(o.name for o in cls.outputs if o.direction is None)

    @classmethod
    def metric_names(cls) -> tuple[str, ...]:
        return tuple(o.name for o in cls.outputs if o.direction is not None)

    def batch(
        self, n: int | None = None, /, **columns: Sequence[Any] | Any
    ) -> dict[str, np.ndarray]:
        """A validated batch: given columns (or scalars) plus defaults for the other inputs.

        ``n`` (positional only, so a model may have an input called ``n``) is the point count
        when every column is a scalar.

        Raises:
            ParamError: naming an unknown parameter or an out-of-range value.
        """
        known = {p.name: p for p in self.inputs}
        for name in columns:
            if name not in known:
                raise ParamError(
                    f"model {self.name!r} has no parameter {name!r}; expected one of "
                    f"{', '.join(known)}"
                )
        if n is None:
            lengths = {len(v) for v in columns.values() if np.ndim(v) == 1}
            if len(lengths) > 1:
                raise ParamError(f"columns of different lengths: {sorted(lengths)}")
            n = lengths.pop() if lengths else 1
        out: dict[str, np.ndarray] = {}
        for name, p in known.items():
            if name in columns:
                raw = columns[name]
                col = np.asarray(raw) if np.ndim(raw) == 1 else np.full(n, raw)
                if col.dtype.kind in "US" or col.dtype == object:
                    if np.ndim(raw) != 1:  # one scalar spread over n rows: parse it once
                        col = np.full(n, p.coerce(raw), dtype=p.dtype)
                    elif not (col.dtype.kind == "U" and p.contains(col).all()):
                        col = np.asarray([p.coerce(v) for v in col.tolist()], dtype=p.dtype)
                bad = ~p.contains(col)
                if bad.any():
                    raise ParamError(
                        f"{name}={col[bad][0].item()!r} is out of range: "
                        f"expected {p.describe_range()}"
                    )
                out[name] = col.astype(p.dtype, copy=False)
            else:
                out[name] = p.column(p.default, n)
        return out
