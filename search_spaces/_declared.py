"""Spaces built from cost models' declared inputs.

A cost model declares its inputs as parameters (range, default, unit, doc). Those declarations
are the model's default space (:func:`model_space`); a domain module takes them from the model
(:func:`declared`) and adds only what the domain knows: a narrower grid, a pin, a condition, a
constraint between parameters, composition with other models. So a parameter's doc, unit and
default are written once, in the model, and a narrowed grid is checked against the declared range
(the rule study-file overrides follow, :func:`~search_spaces.apply_override`).

Spaces import no engine; a model class is only read for its ``inputs`` declarations.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from search_spaces._params import Categorical, Condition, Fixed, Float, Int, Param, apply_override
from search_spaces._space import Space


if TYPE_CHECKING:  # costmodels imports search_spaces: only the type checker reads this
    from costmodels import CostModel


__all__ = ["declared", "model_space"]


def declared(
    model: type[CostModel],
    name: str,
    narrow: Any = None,
    *,
    default: Any = None,
    condition: Condition | None = None,
) -> Param:
    """The model's declaration of input ``name``, optionally narrowed for a domain.

    Args:
        model: the cost model class.
        name: the input's name.
        narrow: as a study-file override: a scalar pins, a list restricts to those values, a
            table (``low``/``high``/``step``/``steps``/``log``/``choices``) narrows; it must stay
            inside the declared range.
        default: the domain's default (must be one of the narrowed values); without it the
            model's default is kept when it is still valid, else the first/lowest value.
        condition: the parameter is active only under this condition.

    Raises:
        ParamError: when the narrowing leaves the declared range.
    """
    param = model.input(name)
    if narrow is not None:
        keep = param.default
        param = apply_override(param, narrow)
        if default is None and not isinstance(param, Fixed):
            default = keep if _holds(param, keep) else None
    if default is not None:
        param = _with_default(param, default)
    return param.with_condition(condition) if condition is not None else param


def _holds(param: Param, value: Any) -> bool:
    try:
        param.coerce(value)
    except ValueError:
        return False
    return True


def _with_default(param: Param, value: Any) -> Param:
    value = param.coerce(value)
    if isinstance(param, Fixed):
        return replace(param, value=value)
    if isinstance(param, Int | Float | Categorical):
        return replace(param, default_value=value)
    return param


def model_space(model: type[CostModel], exclude: tuple[str, ...] = ()) -> Space:
    """The model's default space: every declared input as declared (minus ``exclude``)."""
    params = tuple(p for p in model.inputs if p.name not in exclude)
    return Space(params, name=model.name, doc=model.doc)
