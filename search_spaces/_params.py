"""Parameter kinds of a design space: Int, Float, Categorical and Fixed.

A parameter knows its valid values, its default, its unit, and how to move between its own values
and the unit interval ``[0, 1]`` (the encoding the vectorized evolutionary sweep works in). Every
operation takes and returns whole numpy arrays, so a space of ``n`` points costs ``O(1)`` Python
calls per parameter, not ``O(n)``.

A parameter may be *conditional*: it is active only when another parameter takes one of a set of
values (``Condition``). An inactive parameter is filled with its default, so cost models always
receive full columns.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from search_spaces._errors import UserError


__all__ = [
    "Categorical",
    "Condition",
    "Fixed",
    "Float",
    "Int",
    "Param",
    "ParamError",
]


class ParamError(UserError):
    """A parameter value, override or declaration is invalid; the message names it."""


@dataclass(frozen=True)
class Condition:
    """``param`` is active only when the parameter ``parent`` takes one of ``values``."""

    parent: str
    values: tuple[Any, ...]

    def active(self, parent_column: np.ndarray) -> np.ndarray:
        """Boolean mask of the points where the conditional parameter is active."""
        return np.isin(parent_column, np.asarray(self.values, dtype=parent_column.dtype))


@dataclass(frozen=True)
class Param(ABC):
    """Base of every parameter kind.

    Attributes:
        name: Name as the cost model reads it (namespaced once composed into a joint space).
        unit: Physical unit, empty when dimensionless.
        doc: One line saying what the parameter is.
        condition: When set, the parameter is active only under this condition.
    """

    name: str
    unit: str = field(default="", kw_only=True)
    doc: str = field(default="", kw_only=True)
    condition: Condition | None = field(default=None, kw_only=True)

    @property
    @abstractmethod
    def default(self) -> Any:
        """The value used when the parameter is unset or inactive."""

    @property
    @abstractmethod
    def dtype(self) -> np.dtype[Any]:
        """numpy dtype of a column of this parameter."""

    @abstractmethod
    def values(self) -> np.ndarray | None:
        """All values in order when the parameter is finite, else ``None``."""

    @abstractmethod
    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` independent uniform draws (log-uniform for log-scaled numbers)."""

    @abstractmethod
    def decode(self, u: np.ndarray) -> np.ndarray:
        """Map points of ``[0, 1]`` onto values of this parameter."""

    @abstractmethod
    def encode(self, column: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`decode`: values to ``[0, 1]``."""

    @abstractmethod
    def contains(self, column: np.ndarray) -> np.ndarray:
        """Boolean mask of the entries that are valid values."""

    @abstractmethod
    def describe_range(self) -> str:
        """Human-readable range, used in error messages and ``dse spaces``."""

    @abstractmethod
    def narrowed(self, override: Any) -> Param:
        """A copy narrowed by a study-file override (see :func:`apply_override`)."""

    @property
    def size(self) -> int | None:
        """Number of distinct values, ``None`` when continuous."""
        vals = self.values()
        return None if vals is None else len(vals)

    def coerce(self, raw: Any) -> Any:
        """Parse one user-supplied value (a CLI string or a TOML scalar) and check its range.

        Raises:
            ParamError: naming the parameter and its valid range.
        """
        value = self._parse(raw)
        try:
            column = np.asarray([value], dtype=self.dtype)
        except (OverflowError, ValueError, TypeError):  # e.g. an integer beyond int64
            column = None
        if column is None or not bool(self.contains(column)[0]):
            raise ParamError(
                f"{self.name}={raw!r} is out of range: expected {self.describe_range()}"
            )
        return value

    @abstractmethod
    def _parse(self, raw: Any) -> Any: ...

    def column(self, value: Any, n: int) -> np.ndarray:
        """A column of ``n`` copies of ``value``."""
        return np.full(n, value, dtype=self.dtype)

    def with_condition(self, condition: Condition | None) -> Param:
        return replace(self, condition=condition)

    def renamed(self, name: str) -> Param:
        return replace(self, name=name)


def _check_bounds(name: str, low: float, high: float) -> None:
    if not low <= high:
        raise ParamError(f"{name}: low={low} must not exceed high={high}")


@dataclass(frozen=True)
class Int(Param):
    """Integer in ``[low, high]`` on a grid of ``step``; ``log`` spaces samples geometrically."""

    low: int = 0
    high: int = 0
    step: int = 1
    log: bool = False
    default_value: int | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        _check_bounds(self.name, self.low, self.high)
        if self.step < 1:
            raise ParamError(f"{self.name}: step must be >= 1, got {self.step}")
        if self.log and (self.low < 1 or self.step != 1):
            raise ParamError(f"{self.name}: a log-scaled Int needs low >= 1 and step 1")
        if self.default_value is not None and not self._valid_scalar(self.default_value):
            raise ParamError(
                f"{self.name}: default {self.default_value} outside {self.describe_range()}"
            )

    def _valid_scalar(self, v: int) -> bool:
        return self.low <= v <= self.high and (v - self.low) % self.step == 0

    @property
    def default(self) -> int:
        return self.low if self.default_value is None else self.default_value

    @property
    def dtype(self) -> np.dtype[Any]:
        return np.dtype(np.int64)

    def values(self) -> np.ndarray:
        return np.arange(self.low, self.high + 1, self.step, dtype=np.int64)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.decode(rng.random(n))

    def decode(self, u: np.ndarray) -> np.ndarray:
        u = np.clip(u, 0.0, 1.0)
        if self.log:
            lo, hi = math.log(self.low - 0.5 + 1e-9), math.log(self.high + 0.5)
            x = np.rint(np.exp(lo + u * (hi - lo)))
            return np.clip(x, self.low, self.high).astype(np.int64)
        k = (self.high - self.low) // self.step + 1
        idx = np.minimum((u * k).astype(np.int64), k - 1)
        return self.low + idx * self.step

    def encode(self, column: np.ndarray) -> np.ndarray:
        column = np.asarray(column, dtype=np.float64)
        if self.log:
            lo, hi = math.log(self.low - 0.5 + 1e-9), math.log(self.high + 0.5)
            return (np.log(column) - lo) / (hi - lo)
        k = (self.high - self.low) // self.step + 1
        return ((column - self.low) / self.step + 0.5) / k

    def contains(self, column: np.ndarray) -> np.ndarray:
        column = np.asarray(column)
        if column.dtype.kind not in "iuf":
            return np.zeros(column.shape, dtype=bool)
        ok = (column >= self.low) & (column <= self.high) & (column == np.round(column))
        return ok & ((column - self.low) % self.step == 0)

    def describe_range(self) -> str:
        step = f" step {self.step}" if self.step != 1 else ""
        log = " (log)" if self.log else ""
        return f"an integer in [{self.low}, {self.high}]{step}{log}"

    def _parse(self, raw: Any) -> int:
        if isinstance(raw, bool):
            raise ParamError(f"{self.name}={raw!r}: expected {self.describe_range()}")
        try:
            f = float(raw)
        except (TypeError, ValueError):
            raise ParamError(f"{self.name}={raw!r}: expected {self.describe_range()}") from None
        if f != int(f):
            raise ParamError(f"{self.name}={raw!r}: expected {self.describe_range()}")
        return int(f)

    def narrowed(self, override: Any) -> Param:
        if isinstance(override, dict):
            allowed = {"low", "high", "step", "log", "default"}
            _check_keys(self.name, override, allowed)
            low = int(override.get("low", self.low))
            high = int(override.get("high", self.high))
            default = override.get("default", self.default_value)
            if default is not None and not low <= default <= high:
                default = None
            return replace(
                self,
                low=low,
                high=high,
                step=int(override.get("step", self.step)),
                log=bool(override.get("log", self.log)),
                default_value=default,
            )
        if isinstance(override, list):
            return Categorical(
                self.name, tuple(self.coerce(v) for v in override), unit=self.unit, doc=self.doc,
                condition=self.condition,
            )
        return Fixed(self.name, self.coerce(override), unit=self.unit, doc=self.doc,
                     condition=self.condition)


@dataclass(frozen=True)
class Float(Param):
    """Real number in ``[low, high]``; ``log`` samples log-uniformly."""

    low: float = 0.0
    high: float = 1.0
    log: bool = False
    # When set, the parameter takes ``steps`` evenly spaced values (geometric with ``log``), which
    # makes it finite so a space can be swept exhaustively.
    steps: int | None = field(default=None, kw_only=True)
    default_value: float | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        _check_bounds(self.name, self.low, self.high)
        if self.log and self.low <= 0:
            raise ParamError(f"{self.name}: a log-scaled Float needs low > 0")
        if self.steps is not None and (
            isinstance(self.steps, bool) or not isinstance(self.steps, int | np.integer)
            or self.steps < 1
        ):
            raise ParamError(f"{self.name}: steps must be an integer >= 1, got {self.steps!r}")
        if self.default_value is not None and not self.low <= self.default_value <= self.high:
            raise ParamError(
                f"{self.name}: default {self.default_value} outside {self.describe_range()}"
            )

    @property
    def default(self) -> float:
        if self.default_value is not None:
            return self.default_value
        if self.log:
            return math.sqrt(self.low * self.high)
        return (self.low + self.high) / 2

    @property
    def dtype(self) -> np.dtype[Any]:
        return np.dtype(np.float64)

    def values(self) -> np.ndarray | None:
        if self.low == self.high:
            return np.asarray([self.low])
        if self.steps is None:
            return None
        if self.log:
            return np.geomspace(self.low, self.high, self.steps)
        return np.linspace(self.low, self.high, self.steps)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.decode(rng.random(n))

    def decode(self, u: np.ndarray) -> np.ndarray:
        u = np.clip(u, 0.0, 1.0)
        grid = self.values()
        if grid is not None:
            return grid[np.minimum((u * len(grid)).astype(np.int64), len(grid) - 1)]
        if self.log:
            lo, hi = math.log(self.low), math.log(self.high)
            return np.clip(np.exp(lo + u * (hi - lo)), self.low, self.high)
        return self.low + u * (self.high - self.low)

    def encode(self, column: np.ndarray) -> np.ndarray:
        column = np.asarray(column, dtype=np.float64)
        if self.high == self.low:
            return np.zeros_like(column)
        if self.log:
            lo, hi = math.log(self.low), math.log(self.high)
            return (np.log(column) - lo) / (hi - lo)
        return (column - self.low) / (self.high - self.low)

    def contains(self, column: np.ndarray) -> np.ndarray:
        column = np.asarray(column)
        if column.dtype.kind not in "iuf":
            return np.zeros(column.shape, dtype=bool)
        # A relative slack keeps grid values that float rounding nudged past a bound valid.
        slack = 1e-12 * max(abs(self.low), abs(self.high), 1.0)
        return (column >= self.low - slack) & (column <= self.high + slack)

    def describe_range(self) -> str:
        steps = f" in {self.steps} steps" if self.steps else ""
        return f"a number in [{self.low:g}, {self.high:g}]{steps}" + (" (log)" if self.log else "")

    def _parse(self, raw: Any) -> float:
        if isinstance(raw, bool):
            raise ParamError(f"{self.name}={raw!r}: expected {self.describe_range()}")
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise ParamError(f"{self.name}={raw!r}: expected {self.describe_range()}") from None

    def narrowed(self, override: Any) -> Param:
        if isinstance(override, dict):
            _check_keys(self.name, override, {"low", "high", "log", "steps", "default"})
            low = float(override.get("low", self.low))
            high = float(override.get("high", self.high))
            default = override.get("default", self.default_value)
            if default is not None and not low <= default <= high:
                default = None
            return replace(self, low=low, high=high, log=bool(override.get("log", self.log)),
                           steps=override.get("steps", self.steps), default_value=default)
        if isinstance(override, list):
            return Categorical(self.name, tuple(self.coerce(v) for v in override), unit=self.unit,
                               doc=self.doc, condition=self.condition)
        return Fixed(self.name, self.coerce(override), unit=self.unit, doc=self.doc,
                     condition=self.condition)


@dataclass(frozen=True)
class Categorical(Param):
    """One of a finite tuple of choices (numbers, strings or booleans, all of one kind)."""

    choices: tuple[Any, ...] = ()
    default_value: Any = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        if not self.choices:
            raise ParamError(f"{self.name}: a Categorical needs at least one choice")
        if len(set(self.choices)) != len(self.choices):
            raise ParamError(f"{self.name}: choices repeat: {list(self.choices)}")
        if self.default_value is not None and self.default_value not in self.choices:
            raise ParamError(f"{self.name}: default {self.default_value!r} not in choices")

    @property
    def default(self) -> Any:
        return self.choices[0] if self.default_value is None else self.default_value

    @property
    def dtype(self) -> np.dtype[Any]:
        return np.asarray(self.choices).dtype

    def values(self) -> np.ndarray:
        return np.asarray(self.choices)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.values()[rng.integers(0, len(self.choices), n)]

    def decode(self, u: np.ndarray) -> np.ndarray:
        k = len(self.choices)
        idx = np.minimum((np.clip(u, 0.0, 1.0) * k).astype(np.int64), k - 1)
        return self.values()[idx]

    def index_of(self, column: np.ndarray) -> np.ndarray:
        """Position of each entry in ``choices`` (``-1`` when absent)."""
        vals = self.values()
        order = np.argsort(vals, kind="stable")
        pos = np.searchsorted(vals[order], column)
        pos = np.clip(pos, 0, len(vals) - 1)
        found = vals[order][pos] == column
        return np.where(found, order[pos], -1)

    def encode(self, column: np.ndarray) -> np.ndarray:
        return (self.index_of(np.asarray(column)) + 0.5) / len(self.choices)

    def coerce(self, raw: Any) -> Any:
        # _parse returns one of the choices or raises: the range check would repeat it (and
        # its np.isin dominated exporting a sweep's feasible set, one record at a time).
        return self._parse(raw)

    def contains(self, column: np.ndarray) -> np.ndarray:
        column = np.asarray(column)
        try:
            return np.isin(column, self.values())
        except TypeError:
            return np.zeros(column.shape, dtype=bool)

    def describe_range(self) -> str:
        return "one of " + ", ".join(repr(c) for c in self.choices)

    def _parse(self, raw: Any) -> Any:
        for choice in self.choices:
            if raw == choice or (isinstance(raw, str) and raw == str(choice)):
                return choice
            if isinstance(raw, str) and isinstance(choice, bool):
                if raw.lower() in ("true", "false") and (raw.lower() == "true") == choice:
                    return choice
            elif isinstance(raw, str) and isinstance(choice, int | float):
                try:
                    if float(raw) == choice:
                        return choice
                except ValueError:
                    pass
        raise ParamError(f"{self.name}={raw!r}: expected {self.describe_range()}")

    def narrowed(self, override: Any) -> Param:
        if isinstance(override, dict):
            _check_keys(self.name, override, {"choices", "default"})
            override = override.get("choices", list(self.choices))
            if not isinstance(override, list):
                raise ParamError(f"{self.name}: choices must be a list")
        if isinstance(override, list):
            return replace(self, choices=tuple(self.coerce(v) for v in override),
                           default_value=None)
        return Fixed(self.name, self.coerce(override), unit=self.unit, doc=self.doc,
                     condition=self.condition)


@dataclass(frozen=True)
class Fixed(Param):
    """A parameter pinned to one value: part of the configuration, never sampled."""

    value: Any = None

    @property
    def default(self) -> Any:
        return self.value

    @property
    def dtype(self) -> np.dtype[Any]:
        return np.asarray([self.value]).dtype

    def values(self) -> np.ndarray:
        return np.asarray([self.value])

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.column(self.value, n)

    def decode(self, u: np.ndarray) -> np.ndarray:
        return self.column(self.value, len(u))

    def encode(self, column: np.ndarray) -> np.ndarray:
        return np.full(len(column), 0.5)

    def contains(self, column: np.ndarray) -> np.ndarray:
        return np.asarray(column) == self.value

    def describe_range(self) -> str:
        return f"exactly {self.value!r}"

    def _parse(self, raw: Any) -> Any:
        if raw == self.value or (isinstance(raw, str) and raw == str(self.value)):
            return self.value
        try:
            if isinstance(raw, str) and float(raw) == self.value:
                return self.value
        except (TypeError, ValueError):
            pass
        raise ParamError(f"{self.name}={raw!r}: expected {self.describe_range()}")

    def narrowed(self, override: Any) -> Param:
        if isinstance(override, dict | list):
            raise ParamError(f"{self.name} is fixed to {self.value!r}; it can only be pinned")
        return replace(self, value=override)


def _check_keys(name: str, override: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(override) - allowed
    if unknown:
        raise ParamError(
            f"{name}: unknown override key(s) {sorted(unknown)}; "
            f"expected some of {sorted(allowed)}"
        )


def apply_override(param: Param, override: Any) -> Param:
    """Narrow or pin ``param`` from a study file.

    ``override`` is a scalar (pin: the parameter becomes :class:`Fixed`), a list (restrict to these
    values: :class:`Categorical`) or a table (``low``/``high``/``step``/``log``/``default`` for
    numbers, ``choices``/``default`` for categoricals). A narrowed range must lie inside the
    declared one, so a study file cannot send a cost model values it was never validated for.
    """
    narrowed = param.narrowed(override)
    vals = narrowed.values()
    if vals is not None:
        outside = ~param.contains(vals)
        if outside.any():
            raise ParamError(
                f"{param.name}: override {override!r} leaves the declared range "
                f"({param.describe_range()})"
            )
    elif isinstance(narrowed, Float) and isinstance(param, Float):
        if narrowed.low < param.low or narrowed.high > param.high:
            raise ParamError(
                f"{param.name}: override {override!r} leaves the declared range "
                f"({param.describe_range()})"
            )
    return narrowed

