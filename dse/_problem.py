"""The optimization problem of a study: space + pipeline + objectives + constraints.

Like pymoo's ``Problem``, it evaluates whole populations at once: a columnar batch goes in, an
:class:`Evaluation` comes out with the objective matrix ``F`` (every column oriented for
minimization), the violation matrix ``G`` (``<= 0`` feasible) and every model output. The
sampler, the sweep and the executors only ever see this object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from costmodels import CostModel, ModelError, Pipeline, Stage
from dse._errors import SpecError
from dse._options import build_model
from dse._spec import StudySpec
from search_spaces import (
    Fixed,
    Param,
    ParamError,
    Space,
    SpaceError,
    available_domains,
    domain,
    model_space,
)


__all__ = ["Evaluation", "Objective", "Problem"]


@dataclass(frozen=True)
class Objective:
    key: str
    direction: str
    unit: str

    @property
    def sign(self) -> float:
        return 1.0 if self.direction == "minimize" else -1.0


@dataclass
class Evaluation:
    """Results of one batch.

    Attributes:
        metrics: every model output column, namespaced.
        values: ``(n, k)`` objective values as reported (not sign-flipped).
        F: ``(n, k)`` objectives oriented for minimization.
        G: ``(n, c)`` constraint violations, ``<= 0`` feasible.
        constraint_keys: names of the columns of ``G``.
    """

    metrics: dict[str, np.ndarray]
    values: np.ndarray
    F: np.ndarray
    G: np.ndarray
    constraint_keys: list[str]
    screened: np.ndarray | None = None
    reasons: dict[int, str] | None = None

    @property
    def ok(self) -> np.ndarray:
        """Points evaluated without failure: finite objectives and violations, or screened out
        as infeasible before their expensive models ran (objectives then at their worst)."""
        ok = np.isfinite(self.F).all(axis=1)
        if self.screened is not None:
            ok |= self.screened
        if self.G.shape[1]:
            ok &= ~np.isnan(self.G).any(axis=1)
        return ok

    @property
    def feasible(self) -> np.ndarray:
        return self.feasible_where(self.ok)

    def feasible_where(self, ok: np.ndarray) -> np.ndarray:
        """Feasible points given the already computed :attr:`ok` mask."""
        if not self.G.shape[1]:
            return ok
        return ok & (self.G <= 0).all(axis=1)  # NaN compares False: infeasible

    @staticmethod
    def concat(parts: list[Evaluation]) -> Evaluation:
        """One evaluation of the concatenated batches of ``parts`` (in order)."""
        first = parts[0]
        offsets = np.cumsum([0] + [len(p.F) for p in parts[:-1]])
        screened = None
        if any(p.screened is not None for p in parts):
            screened = np.concatenate([
                p.screened if p.screened is not None else np.zeros(len(p.F), dtype=bool)
                for p in parts
            ])
        reasons = {int(o) + i: r for o, p in zip(offsets, parts) for i, r in
                   (p.reasons or {}).items()}
        return Evaluation(
            {k: np.concatenate([np.asarray(p.metrics[k]) for p in parts]) for k in first.metrics},
            np.concatenate([p.values for p in parts]),
            np.concatenate([p.F for p in parts]),
            np.concatenate([p.G for p in parts]),
            list(first.constraint_keys),
            screened,
            reasons,
        )

    def nan_reason(self, i: int, objective_keys: list[str]) -> str:
        if self.reasons and i in self.reasons:
            return self.reasons[i]
        bad = [k for j, k in enumerate(objective_keys) if not np.isfinite(self.values[i, j])]
        bad += [k for j, k in enumerate(self.constraint_keys) if np.isnan(self.G[i, j])]
        return "model returned NaN for " + ", ".join(bad)


def _merge(parts: list[Space], name: str) -> Space:
    """Union of spaces where a column several models read is declared by its first reader.

    Every reader's own declared range is checked afterwards (in ``_build_space``), so a
    shared column never sends a model a value outside what it declares.
    """
    params: dict[str, Param] = {}
    for part in parts:
        for p in part.params:
            params.setdefault(p.name, p)
    return Space(
        tuple(params.values()),
        tuple(d for part in parts for d in part.derived),
        tuple(c for part in parts for c in part.constraints),
        name=name,
    )


class Problem:
    """Everything needed to evaluate design points of a study."""

    def __init__(self, spec: StudySpec, cache_dir: str | Path | None = None) -> None:
        self.spec = spec
        self.models: dict[str, CostModel] = {}
        stages = []
        for m in spec.models:
            try:
                model = build_model(m.model, m.options)
            except (ModelError, ParamError) as exc:
                raise SpecError(f"{spec.path}: models.{m.namespace}: {exc}") from None
            self.models[m.namespace] = model
            stages.append(Stage(model, m.namespace, m.bind, m.memoize, m.options))
        try:
            self.pipeline = Pipeline(stages, cache_dir=cache_dir)
        except ModelError as exc:
            raise SpecError(f"{spec.path}: models: {exc}") from None
        self.space = self._build_space()
        self.objectives = self._build_objectives()
        self._expensive = any(m.expensive for m in self.models.values())
        produced_constraints = self.pipeline.constraint_keys()
        # A space constraint that a model also reports is taken from the model only.
        self._space_constraints = Space(
            constraints=tuple(c for c in self.space.constraints
                              if c.name not in produced_constraints))
        self.constraint_keys = (
            [c.name for c in self._space_constraints.constraints]
            + produced_constraints
            + [b.name for b in spec.bounds]
        )

    # -- construction --------------------------------------------------------------------------
    def _build_space(self) -> Space:
        """The study's space: its domains, or else every model's declared inputs, narrowed.

        ``[space] domains`` entries name domain modules, or a model table whose declared
        inputs are then its space; without ``domains`` every model's declared inputs are the
        space (see :func:`search_spaces.model_space`), under their columns (``ns.input``, or the
        column a ``bind`` names).
        """
        spec = self.spec
        shared = frozenset(spec.shared)
        namespaces = {m.namespace for m in spec.models}
        parts = []
        derived_only = not spec.domains
        entries = spec.domains or tuple((m.namespace, m.namespace) for m in spec.models)
        for dom, ns in entries:
            if derived_only or (dom not in available_domains() and dom in namespaces):
                parts.append(self._declared_space(dom))
                continue
            try:
                parts.append(domain(dom).prefixed(ns, shared))
            except SpaceError as exc:
                raise SpecError(f"{spec.path}: space.domains: {exc}; or a model table "
                                f"({', '.join(sorted(namespaces))})") from None
        try:
            space = _merge(parts, spec.name)
            space = space.narrowed(spec.overrides)
        except (SpaceError, ParamError) as exc:
            raise SpecError(f"{spec.path}: space.override: {exc}") from None
        read = set(self.pipeline.free_inputs())
        for p in space.params:
            if p.name not in read:
                raise SpecError(
                    f"{spec.path}: space: parameter {p.name!r} is read by no model; expected "
                    f"one of {', '.join(sorted(read))}"
                )
        readers = self.pipeline.readers()
        for p in space.params:
            vals = p.values()
            probe = vals if vals is not None else (
                np.asarray([p.low, p.high]) if hasattr(p, "low") else None)  # type: ignore[attr-defined]
            if probe is None:
                continue
            for stage, declared in readers[p.name]:
                mask = ~declared.contains(probe)
                if not mask.any():
                    continue
                others = [f"{s.namespace!r} ({s.model.name}.{d.name}: {d.describe_range()})"
                          for s, d in readers[p.name] if s is not stage]
                also = f"; it is shared with {', '.join(others)}" if others else ""
                raise SpecError(
                    f"{spec.path}: space: {p.name}={probe[mask][0]!r} is outside the valid "
                    f"range of model {stage.namespace!r} ({stage.model.name}.{declared.name}: "
                    f"{declared.describe_range()}){also}"
                )
        return space

    def _declared_space(self, namespace: str) -> Space:
        """Model ``namespace``'s declared inputs as a space, under the columns it reads."""
        stage = next(s for s in self.pipeline.stages if s.namespace == namespace)
        produced = set(self.pipeline.produced)
        keys = stage.input_keys
        fed = tuple(p.name for p in stage.model.inputs if keys[p.name] in produced)
        return model_space(type(stage.model), exclude=fed).prefixed(
            namespace, rename={k: v for k, v in keys.items() if k in stage.bind})

    def _build_objectives(self) -> list[Objective]:
        out = []
        for o in self.spec.objectives:
            try:
                decl = self.pipeline.output(o.metric)
            except ModelError as exc:
                raise SpecError(f"{self.spec.path}: objectives: {exc}") from None
            direction = o.direction or decl.direction
            if direction is None:
                raise SpecError(
                    f"{self.spec.path}: objectives: {o.metric!r} is a constraint violation; "
                    "give it a direction or use [[constraints]]"
                )
            out.append(Objective(o.metric, direction, decl.unit))
        for b in self.spec.bounds:
            try:
                self.pipeline.output(b.metric)
            except ModelError as exc:
                raise SpecError(f"{self.spec.path}: constraints: {exc}") from None
        return out

    # -- evaluation ----------------------------------------------------------------------------
    @property
    def objective_keys(self) -> list[str]:
        return [o.key for o in self.objectives]

    @property
    def directions(self) -> list[str]:
        return [o.direction for o in self.objectives]

    def evaluate(self, batch: Mapping[str, np.ndarray], context: Any = None) -> Evaluation:
        """Evaluate a batch of namespaced points (completed with defaults and derived values).

        With an expensive model in the pipeline, the space's constraints and the cheap models'
        violation outputs are checked first: a point violating one is infeasible whatever the
        expensive model says, so it is not trained; its
        objectives are set to their worst (``+inf`` after orientation) and it stays a feasible-
        or-not design, not a failure.
        """
        full = self.space.complete(batch)
        n = len(next(iter(full.values()))) if full else 1
        space_v = self._space_constraints.violations(full)
        screened = None
        all_space: dict[str, np.ndarray] = {}
        if self._expensive and self.space.constraints:
            all_space = self.space.violations(full)
            screened = np.zeros(n, dtype=bool)
            for v in all_space.values():
                screened |= v > 0
            space_v = {k: all_space[k] for k in space_v}
        metrics = self.pipeline.evaluate(full, context, skip_expensive=screened)
        if self._expensive:
            screened = self.pipeline.last_screened  # cheap models' violations screen too
        values = np.empty((n, len(self.objectives)))
        for j, o in enumerate(self.objectives):
            values[:, j] = np.asarray(metrics[o.key], dtype=np.float64)
        signs = np.asarray([o.sign for o in self.objectives])
        if screened is not None and screened.any():
            values[screened] = np.inf * signs
        F = values * signs
        cols = []
        for key in self.constraint_keys:
            if key in metrics:
                col = np.asarray(metrics[key], dtype=np.float64)
                if screened is not None and screened.any():
                    # Not evaluated: the space's own value of this constraint when it has
                    # one, else nothing (another space constraint holds the violation).
                    fill = all_space.get(key, np.zeros(n))
                    col = np.where(screened & np.isnan(col), fill, col)
                cols.append(col)
            elif key in space_v:
                cols.append(space_v[key])
        for b in self.spec.bounds:
            v = np.asarray(metrics[b.metric], dtype=np.float64)
            viol = np.full(n, -np.inf)
            if b.max is not None:
                viol = np.maximum(viol, v - b.max)
            if b.min is not None:
                viol = np.maximum(viol, b.min - v)
            if screened is not None:
                viol = np.where(screened & np.isnan(viol), 0.0, viol)
            cols.append(viol)
        G = np.stack(cols, axis=1) if cols else np.empty((n, 0))
        return Evaluation(metrics, values, F, G, list(self.constraint_keys), screened,
                          dict(self.pipeline.last_reasons))

    def pinned(self, values: Mapping[str, Any]) -> Problem:
        """A copy whose parameters in ``values`` are fixed (the inner problem of nested mode)."""
        inner = object.__new__(Problem)
        inner.__dict__.update(self.__dict__)
        params = tuple(
            Fixed(p.name, values[p.name], unit=p.unit, doc=p.doc) if p.name in values else p
            for p in self.space.params
        )
        inner.space = replace(self.space, params=params)
        return inner
