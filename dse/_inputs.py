"""One mapping from a design point to each model's inputs.

A point of a study is a flat dict of namespaced parameters: an Optuna trial's params, the inner
params of a nested trial (``dse.inner_params``), a row of a sweep file. A model reads each of its
inputs ``x`` from one *column*: ``namespace.x``, or the column its ``bind`` names (a shared
parameter such as ``sparsity.n``, or another model's output such as ``nm.top1_acc``). A column
missing from the point takes, in order:

1. the value the point's metrics hold for it (a column another model produces);
2. the space's value: a pinned parameter (``Fixed``) or the default of an unset/inactive one
   (what :meth:`search_spaces.Space.complete` fills in on a worker);
3. the model's declared default (an input no space parameter covers).

:class:`InputMap` holds exactly that: per model, input -> column, and per free column, its default
value. It is built from a :class:`~dse.Problem` when a study is created and stored on the study as
the attribute ``dse.inputs``, so export, ``dse evaluate``, the dashboards and anything reading a
storage later map points exactly as the workers did, without the study file or the domain
modules. :func:`model_inputs` is the public entry point.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dse._errors import DseError
from dse._values import stored


__all__ = ["INPUTS_ATTR", "InputMap", "StageInputs", "model_inputs"]

INPUTS_ATTR = "dse.inputs"


@dataclass(frozen=True)
class StageInputs:
    """Where one model of a study reads its inputs.

    Attributes:
        namespace: the model's table in the study file (``nm``, ``hw``).
        model: the registered model name.
        columns: input name -> the column it is read from.
    """

    namespace: str
    model: str
    columns: dict[str, str]


@dataclass(frozen=True)
class InputMap:
    """Every model's input columns and the defaults of the free columns of a study.

    Attributes:
        stages: one entry per model, in the study's order.
        defaults: column -> value for every column no model produces (pinned parameters at their
            pinned value, other space parameters at their default, the rest at the model's).
    """

    stages: tuple[StageInputs, ...]
    defaults: dict[str, Any] = field(default_factory=dict)

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def of_problem(cls, problem: Any) -> InputMap:
        """The map a :class:`~dse.Problem`'s workers use (space completion, then binds)."""
        stages = tuple(
            StageInputs(s.namespace, s.model.name, dict(s.input_keys))
            for s in _stages_in_spec_order(problem)
        )
        defaults: dict[str, Any] = {}
        space = problem.space
        for column, param in problem.pipeline.free_inputs().items():
            source = space[column] if column in space else param
            defaults[column] = stored(source.default)
        return cls(stages, defaults)

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> InputMap:
        """The map stored on a study (its user attrs).

        Studies written before ``dse.inputs`` existed are mapped from ``dse.models`` (binds
        when recorded) and ``dse.fixed``, with each model's declared defaults when the model is
        importable here.

        Raises:
            DseError: when the attrs describe no models.
        """
        stored_map = attrs.get(INPUTS_ATTR)
        if isinstance(stored_map, dict) and "stages" in stored_map:
            return cls.from_dict(stored_map)
        models = attrs.get("dse.models")
        if not isinstance(models, list) or not models:
            raise DseError("the study records no models (study attr 'dse.models'); it was not "
                           "written by dse, so its points cannot be mapped to model inputs")
        return _legacy_map(models, attrs.get("dse.fixed") or {})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InputMap:
        """Inverse of :meth:`as_dict`."""
        stages = tuple(
            StageInputs(str(s["namespace"]), str(s["model"]), dict(s["columns"]))
            for s in data["stages"]
        )
        return cls(stages, dict(data.get("defaults", {})))

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able form (the study attribute ``dse.inputs``)."""
        return {
            "stages": [{"namespace": s.namespace, "model": s.model, "columns": dict(s.columns)}
                       for s in self.stages],
            "defaults": dict(self.defaults),
        }

    # -- mapping -------------------------------------------------------------------------------
    def namespaces(self) -> list[str]:
        return [s.namespace for s in self.stages]

    def stage(self, namespace: str) -> StageInputs:
        for s in self.stages:
            if s.namespace == namespace:
                return s
        raise DseError(f"unknown model namespace {namespace!r}; expected one of "
                       f"{', '.join(self.namespaces())}")

    def flat(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The point completed with every free column's default (pins included)."""
        out = dict(self.defaults)
        out.update(params)
        return out

    def bound_columns(self, columns: Mapping[str, Any]) -> dict[str, Any]:
        """``ns.input`` -> the column it is bound to, for every bound input ``columns`` holds.

        Works on whole columns (a DataFrame, a dict of arrays): a front's table shows the
        value each model saw under the model's own input name (``hw.nm_n`` beside
        ``sparsity.n``).
        """
        out: dict[str, Any] = {}
        for s in self.stages:
            for name, column in s.columns.items():
                own = f"{s.namespace}.{name}"
                if column != own and column in columns and own not in columns:
                    out[own] = columns[column]
        return out

    def __call__(
        self, params: Mapping[str, Any], metrics: Mapping[str, Any] | None = None
    ) -> dict[str, dict[str, Any]]:
        """Each model's inputs for one flat point: ``{namespace: {input: value}}``.

        Args:
            params: the point's namespaced parameters (any subset: the rest take defaults).
            metrics: the point's model outputs, for inputs bound to another model's output.
        """
        full = self.flat(params)
        produced = dict(metrics or {})
        out: dict[str, dict[str, Any]] = {}
        for s in self.stages:
            local: dict[str, Any] = {}
            for name, column in s.columns.items():
                if column in params:
                    local[name] = params[column]
                elif column in produced:
                    local[name] = produced[column]
                elif column in full:
                    local[name] = full[column]
            out[s.namespace] = local
        return out


def _stages_in_spec_order(problem: Any) -> list[Any]:
    by_ns = {s.namespace: s for s in problem.pipeline.stages}
    return [by_ns[m.namespace] for m in problem.spec.models if m.namespace in by_ns]


def _legacy_map(models: list[Any], fixed: Mapping[str, Any]) -> InputMap:
    from costmodels import get_model_class

    stages = []
    defaults: dict[str, Any] = {}
    produced: set[str] = set()
    declared: list[tuple[str, str, dict[str, Any]]] = []
    for m in models:
        ns, name = str(m.get("namespace", m.get("model"))), str(m.get("model"))
        bind = dict(m.get("bind") or {})
        try:
            cls = get_model_class(name)
        except Exception:  # noqa: BLE001 - a model missing here maps only what is stored
            declared.append((ns, name, {k: (v, None) for k, v in bind.items()}))
            continue
        produced |= {f"{ns}.{o.name}" for o in cls.outputs}
        declared.append((ns, name, {p.name: (bind.get(p.name, f"{ns}.{p.name}"), p.default)
                                    for p in cls.inputs}))
    for ns, name, inputs in declared:
        columns = {k: col for k, (col, _) in inputs.items()}
        stages.append(StageInputs(ns, name, columns))
        for col, default in inputs.values():
            if col not in produced and default is not None:
                defaults.setdefault(col, stored(default))
    defaults.update(fixed)
    return InputMap(tuple(stages), defaults)


def model_inputs(
    source: Any, params: Mapping[str, Any], metrics: Mapping[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """Each model's inputs for one design point: ``{namespace: {input: value}}``.

    Binds, pinned parameters, nested inner parameters (pass them in ``params``), space defaults
    and model defaults are applied exactly as the workers apply them.

    Args:
        source: a :class:`~dse.Problem`, a :class:`~dse.StudySpec`, an Optuna study written by
            dse, its user attrs, or an :class:`InputMap`.
        params: the point's namespaced parameters.
        metrics: the point's model outputs (for inputs bound to another model's output).

    Example:
        >>> import dse
        >>> spec = dse.load_spec("joint")
        >>> dse.model_inputs(spec, {"sparsity.n": 1})["hw"]["nm_n"]
        1
    """
    return input_map(source)(params, metrics)


def input_map(source: Any) -> InputMap:
    """The :class:`InputMap` of a problem, spec, study, study attrs or map (see above)."""
    if isinstance(source, InputMap):
        return source
    from dse._problem import Problem
    from dse._spec import StudySpec

    if isinstance(source, StudySpec):
        source = Problem(source)
    if isinstance(source, Problem):
        return InputMap.of_problem(source)
    attrs = getattr(source, "user_attrs", source)
    if isinstance(attrs, Mapping):
        return InputMap.from_attrs(attrs)
    raise DseError(f"cannot map inputs from a {type(source).__name__}; expected a Problem, "
                   "a StudySpec, a study written by dse or its user attrs")
