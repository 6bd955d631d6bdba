"""Design spaces: parameter kinds, constraints, composition, and one module per domain.

Each domain module (``search_spaces.vegeta``, ``search_spaces.comet``, ...) exposes
``space() -> Space`` with the domain's searched parameters (local names) and constraints. Study
files name domains; :func:`domain` loads one. Spaces depend on numpy only.
"""

from __future__ import annotations

import importlib
import importlib.util

from search_spaces._declared import declared, model_space
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
    "apply_override",
    "available_domains",
    "declared",
    "domain",
    "model_space",
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


def available_domains() -> list[str]:
    """Names of the domain spaces whose module is present."""
    found = []
    for name, module in _DOMAINS.items():
        if importlib.util.find_spec(module) is not None:
            found.append(name)
    return found


def domain(name: str) -> Space:
    """The search space of domain ``name``.

    Raises:
        SpaceError: when no such domain exists, listing the ones that do.
    """
    if name not in _DOMAINS or importlib.util.find_spec(_DOMAINS[name]) is None:
        raise SpaceError(
            f"unknown space {name!r}; expected one of {', '.join(available_domains())}"
        )
    module = importlib.import_module(_DOMAINS[name])
    space: Space = module.space()
    return space
