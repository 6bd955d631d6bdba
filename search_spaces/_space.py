"""A design space: parameters, derived parameters and vectorized constraints.

Points travel as a *columnar batch*: a ``dict`` from parameter name to a 1-D numpy array, one
entry per point. Every method here works on whole batches.

Constraints are vectorized predicates returning a *violation* per point: ``<= 0`` is feasible,
``> 0`` says by how much the point is infeasible (the convention of Optuna's
``trial.set_constraint``). Derived parameters are computed from sampled ones, never sampled.

Spaces compose: :meth:`Space.prefixed` namespaces every name (``alpha`` -> ``vegeta.alpha``)
except the *shared* ones, and :func:`union` merges spaces, so a joint space is the union of the
domain spaces plus the shared parameters several models read.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from search_spaces._errors import UserError
from search_spaces._params import Condition, Fixed, Param, ParamError, apply_override


__all__ = ["Batch", "Constraint", "Derived", "Space", "SpaceError", "union"]

Batch = dict[str, np.ndarray]


class SpaceError(UserError):
    """A space declaration or operation is invalid; the message names the parameter."""


@dataclass(frozen=True)
class Derived:
    """A parameter computed from others: ``fn(batch) -> column``."""

    name: str
    fn: Callable[[Mapping[str, np.ndarray]], np.ndarray]
    inputs: tuple[str, ...]
    unit: str = ""
    doc: str = ""


@dataclass(frozen=True)
class Constraint:
    """A vectorized predicate: ``fn(batch) -> violation`` (``<= 0`` feasible)."""

    name: str
    fn: Callable[[Mapping[str, np.ndarray]], np.ndarray]
    inputs: tuple[str, ...]
    doc: str = ""


def _rename_mapping(batch: Mapping[str, np.ndarray], back: Mapping[str, str]) -> dict[str, Any]:
    # Present a namespaced batch to a function written against local names.
    return {local: batch[full] for local, full in back.items() if full in batch}


@dataclass(frozen=True)
class Space:
    """An ordered set of parameters with derived parameters and constraints."""

    params: tuple[Param, ...] = ()
    derived: tuple[Derived, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    name: str = ""
    doc: str = ""
    _by_name: dict[str, Param] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name: dict[str, Param] = {}
        for p in self.params:
            if p.name in by_name:
                raise SpaceError(f"parameter {p.name!r} is declared twice")
            by_name[p.name] = p
        for p in self.params:
            if p.condition is not None and p.condition.parent not in by_name:
                raise SpaceError(
                    f"{p.name}: condition refers to unknown parameter {p.condition.parent!r}"
                )
        object.__setattr__(self, "_by_name", by_name)

    # -- lookup ---------------------------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __getitem__(self, name: str) -> Param:
        try:
            return self._by_name[name]
        except KeyError:
            raise SpaceError(
                f"unknown parameter {name!r}; expected one of {', '.join(self.names)}"
            ) from None

    @property
    def searched(self) -> tuple[Param, ...]:
        """Parameters a sampler must choose (everything but :class:`Fixed`)."""
        return tuple(p for p in self.params if not isinstance(p, Fixed))

    # -- size and enumeration --------------------------------------------------------------------
    @property
    def is_finite(self) -> bool:
        return all(p.size is not None for p in self.params)

    @property
    def size(self) -> int | None:
        """Number of points of a finite space (conditionals counted as if always active)."""
        if not self.is_finite:
            return None
        total = 1
        for p in self.params:
            total *= p.size or 1
        return total

    def point(self, index: np.ndarray, distinct: bool = False) -> Batch:
        """Points of a finite space from their mixed-radix indices (vectorized).

        With ``distinct``, indices that differ only in a parameter switched off by its
        condition are kept once (the one choosing that parameter's first value), so a sweep
        evaluates every distinct design once; the batch may then be shorter than ``index``.
        """
        if not self.is_finite:
            raise SpaceError(
                f"space {self.name!r} has continuous parameters; it cannot be indexed"
            )
        index = np.asarray(index, dtype=np.int64)
        batch: Batch = {}
        digits: dict[str, np.ndarray] = {}
        rem = index.copy()
        # Last parameter varies fastest, like nested loops written in declaration order.
        for p in reversed(self.params):
            vals = p.values()
            assert vals is not None
            digits[p.name] = rem % len(vals)
            batch[p.name] = vals[digits[p.name]]
            rem //= len(vals)
        batch = {p.name: batch[p.name] for p in self.params}
        if distinct and any(p.condition is not None for p in self.params):
            keep = np.ones(len(index), dtype=bool)
            for p in self.params:
                if p.condition is not None:
                    keep &= self.active_mask(batch, p.name) | (digits[p.name] == 0)
            if not keep.all():
                batch = {k: v[keep] for k, v in batch.items()}
        return self.complete(batch)

    def enumerate(self, chunk_size: int = 1 << 20) -> Iterator[Batch]:
        """Every distinct point of a finite space, at most ``chunk_size`` indices at a time.

        Memory is bounded by the chunk; points differing only in inactive conditional
        parameters appear once (see :meth:`point`).
        """
        size = self.size
        if size is None:
            raise SpaceError(f"space {self.name!r} has continuous parameters; it cannot be swept")
        for start in range(0, size, chunk_size):
            chunk = np.arange(start, min(start + chunk_size, size), dtype=np.int64)
            yield self.point(chunk, distinct=True)

    # -- sampling and encoding -------------------------------------------------------------------
    def sample(self, rng: np.random.Generator, n: int) -> Batch:
        """``n`` independent random points, completed with derived values."""
        return self.complete({p.name: p.sample(rng, n) for p in self.params})

    def decode(self, u: np.ndarray) -> Batch:
        """Points from an ``(n, len(searched))`` array in ``[0, 1]`` (evolutionary encoding)."""
        n = u.shape[0]
        batch: Batch = {}
        searched = {p.name: i for i, p in enumerate(self.searched)}
        for p in self.params:
            if p.name in searched:
                batch[p.name] = p.decode(u[:, searched[p.name]])
            else:
                batch[p.name] = p.column(p.default, n)
        return self.complete(batch)

    def encode(self, batch: Mapping[str, np.ndarray]) -> np.ndarray:
        """Inverse of :meth:`decode` for the searched parameters."""
        cols = [p.encode(batch[p.name]) for p in self.searched]
        if not cols:
            n = len(next(iter(batch.values()))) if batch else 0
            return np.zeros((n, 0))
        return np.stack(cols, axis=1)

    # -- completion, validation, feasibility -----------------------------------------------------
    def complete(self, batch: Mapping[str, np.ndarray]) -> Batch:
        """Fill unset and inactive parameters with defaults and compute derived ones."""
        out: Batch = dict(batch)
        n = _batch_len(batch)
        for p in self.params:
            if p.name not in out:
                out[p.name] = p.column(p.default, n)
        for p in self.params:
            if p.condition is not None:
                active = p.condition.active(out[p.condition.parent])
                if not active.all():
                    col = np.array(out[p.name], copy=True)
                    col[~active] = p.default
                    out[p.name] = col
        for d in self.derived:
            out[d.name] = np.asarray(d.fn(out))
        return out

    def active_mask(self, batch: Mapping[str, np.ndarray], name: str) -> np.ndarray:
        """Where parameter ``name`` is active (all ``True`` for unconditional ones)."""
        p = self[name]
        if p.condition is None:
            return np.ones(_batch_len(batch), dtype=bool)
        return p.condition.active(np.asarray(batch[p.condition.parent])) & self.active_mask(
            batch, p.condition.parent
        )

    def check(self, batch: Mapping[str, np.ndarray]) -> None:
        """Raise :class:`ParamError` naming the first out-of-range parameter value."""
        for name in batch:
            if name not in self._by_name:
                if any(d.name == name for d in self.derived):
                    continue
                raise ParamError(
                    f"unknown parameter {name!r}; expected one of {', '.join(self.names)}"
                )
        for p in self.params:
            if p.name in batch:
                col = np.asarray(batch[p.name])
                bad = ~p.contains(col)
                if bad.any():
                    raise ParamError(
                        f"{p.name}={col[bad][0].item()!r} is out of range: "
                        f"expected {p.describe_range()}"
                    )

    def violations(self, batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Violation of each constraint per point (``<= 0`` feasible)."""
        return {c.name: np.asarray(c.fn(batch), dtype=np.float64) for c in self.constraints}

    def feasible(self, batch: Mapping[str, np.ndarray]) -> np.ndarray:
        mask = np.ones(_batch_len(batch), dtype=bool)
        for v in self.violations(batch).values():
            mask &= v <= 0
        return mask

    # -- transformation --------------------------------------------------------------------------
    def narrowed(self, overrides: Mapping[str, Any]) -> Space:
        """Apply study-file overrides (see :func:`search_spaces.apply_override`)."""
        for name in overrides:
            if name not in self._by_name:
                raise ParamError(
                    f"override for unknown parameter {name!r}; expected one of "
                    f"{', '.join(self.names)}"
                )
        params = tuple(
            apply_override(p, overrides[p.name]) if p.name in overrides else p
            for p in self.params
        )
        return replace(self, params=params)

    def prefixed(
        self,
        namespace: str,
        shared: frozenset[str] = frozenset(),
        rename: Mapping[str, str] | None = None,
    ) -> Space:
        """Namespace every name as ``namespace.name``.

        Names in ``shared`` (and names already holding a dot) stay as they are; ``rename``
        maps a local name to a chosen full name, for a parameter shared under another name
        (``nm_n`` -> ``sparsity.n``).
        """
        rename = dict(rename or {})

        def full(local: str) -> str:
            if local in rename:
                return rename[local]
            return local if local in shared or "." in local else f"{namespace}.{local}"

        params = tuple(
            p.renamed(full(p.name)).with_condition(
                None
                if p.condition is None
                else Condition(full(p.condition.parent), p.condition.values)
            )
            for p in self.params
        )
        derived = tuple(_wrap(d, full) for d in self.derived)
        constraints = tuple(_wrap(c, full) for c in self.constraints)
        return Space(params, derived, constraints, name=namespace, doc=self.doc)


def _wrap(item: Any, full: Callable[[str], str]) -> Any:
    back = {local: full(local) for local in item.inputs}
    fn = item.fn

    def wrapped(batch: Mapping[str, np.ndarray]) -> np.ndarray:
        return fn(_rename_mapping(batch, back))

    return replace(item, name=full(item.name), fn=wrapped, inputs=tuple(back.values()))


def _batch_len(batch: Mapping[str, Any]) -> int:
    for v in batch.values():
        return len(v)
    return 1


def union(*spaces: Space, name: str = "joint") -> Space:
    """Merge spaces. A parameter declared in several (a shared one) must be declared alike."""
    params: dict[str, Param] = {}
    for p in itertools.chain.from_iterable(s.params for s in spaces):
        if p.name in params and params[p.name] != p:
            raise SpaceError(f"shared parameter {p.name!r} is declared differently in two spaces")
        params.setdefault(p.name, p)
    derived = tuple(itertools.chain.from_iterable(s.derived for s in spaces))
    constraints = tuple(itertools.chain.from_iterable(s.constraints for s in spaces))
    return Space(tuple(params.values()), derived, constraints, name=name)
