"""Design spaces: parameter kinds, constraints, composition, and one module per domain.

Each domain module (``search_spaces.vegeta``, ``search_spaces.comet``, ...) exposes
``space() -> Space`` with the domain's searched parameters (local names) and constraints. Study
files name domains; :func:`domain` loads one. Spaces depend on numpy only.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable

from search_spaces._declared import declared, model_space
from search_spaces._errors import UserError
from search_spaces._params import (
    Categorical,
    Condition,
    Fixed,
    Float,
    Int,
    Param,
    ParamError,
    apply_override,
)
from search_spaces._space import Batch, Constraint, Derived, Space, SpaceError, union


__all__ = [
    "Batch",
    "Categorical",
    "Condition",
    "Constraint",
    "Derived",
    "Fixed",
    "Float",
    "Int",
    "Param",
    "ParamError",
    "Space",
    "SpaceError",
    "UserError",
    "apply_override",
    "available_domains",
    "declared",
    "domain",
    "model_space",
    "register_space",
    "registered_spaces",
    "union",
]

# Domain name -> module; each module defines ``space() -> Space``.
_DOMAINS = {
    "demo": "search_spaces.demo",
    "vegeta": "search_spaces.vegeta",
    "nm_sparsity": "search_spaces.nm_sparsity",
    "sushi": "search_spaces.sushi",
    "comet": "search_spaces.comet",
    "joint": "search_spaces.joint",
    "codesign": "search_spaces.codesign",
}


# Spaces registered in the running process (register_space): name -> factory.
_REGISTERED: dict[str, Callable[[], Space]] = {}


def register_space(name: str, space: Space | Callable[[], Space]) -> None:
    """Make ``space`` (a :class:`Space` or a function returning one) the domain ``name`` in
    this process, e.g. from a notebook; study files then list it in ``[space] domains``.

    Raises:
        SpaceError: when ``space`` is neither a Space nor callable.
    """
    if isinstance(space, Space):
        fixed = space
        _REGISTERED[name] = lambda: fixed
    elif callable(space):
        _REGISTERED[name] = space
    else:
        raise SpaceError(f"register_space({name!r}): expected a Space or a function returning "
                         f"one, got {type(space).__name__}")


def registered_spaces() -> dict[str, Callable[[], Space]]:
    """The spaces registered in this process (what Ray workers are sent)."""
    return dict(_REGISTERED)


def available_domains() -> list[str]:
    """Names of the domain spaces: shipped modules present, then runtime registrations."""
    found = []
    for name, module in _DOMAINS.items():
        if importlib.util.find_spec(module) is not None:
            found.append(name)
    return found + [n for n in _REGISTERED if n not in found]


def domain(name: str) -> Space:
    """The search space of domain ``name``.

    Raises:
        SpaceError: when no such domain exists, listing the ones that do.
    """
    if name in _REGISTERED:
        space = _REGISTERED[name]()
        if not isinstance(space, Space):
            raise SpaceError(f"registered space {name!r} returned a {type(space).__name__}, "
                             "not a Space")
        return space
    if name not in _DOMAINS or importlib.util.find_spec(_DOMAINS[name]) is None:
        raise SpaceError(
            f"unknown space {name!r}; expected one of {', '.join(available_domains())}"
        )
    module = importlib.import_module(_DOMAINS[name])
    shipped: Space = module.space()
    return shipped
