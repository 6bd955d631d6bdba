"""What a Ray worker needs to rebuild a study's models and spaces: registrations made here.

A worker builds its own :class:`~dse.Problem` from the study spec. Models named by a built-in
name, an entry point or an import path (``package.module:Class``) it imports itself. A model or a
space registered in the driver process only (``dse.register_model`` / ``dse.register_space``,
typically from a notebook or a script) does not exist there, so the driver ships those
registrations with the worker's constructor arguments: Ray pickles them with cloudpickle, which
sends classes defined in ``__main__`` (a notebook, a script) by value; a class from any other
module the workers may not be able to import is registered for pickling by value too
(``ray.cloudpickle.register_pickle_by_value``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from costmodels import register as register_model
from costmodels._registry import registered_here
from dse._spec import StudySpec
from search_spaces import Space, register_space, registered_spaces


__all__ = ["Registrations", "describe_models", "registrations_for"]

# The project's own packages: workers import them like the driver does.
_SHIPPED_BY_REFERENCE = ("costmodels", "search_spaces", "dse", "dashboards")


@dataclass
class Registrations:
    """Model classes and space factories registered in the driver that a study uses."""

    models: list[type] = field(default_factory=list)
    spaces: dict[str, Callable[[], Space]] = field(default_factory=dict)

    def apply(self) -> None:
        """Register everything in this (worker) process."""
        for cls in self.models:
            register_model(cls)
        for name, factory in self.spaces.items():
            register_space(name, factory)

    def by_value(self) -> None:
        """Have cloudpickle send the defining modules by value (workers may lack them)."""
        try:
            from ray import cloudpickle
        except ImportError:  # pragma: no cover - only called when Ray is in use
            return
        for obj in [*self.models, *self.spaces.values()]:
            module = sys.modules.get(getattr(obj, "__module__", "") or "")
            if module is None or module.__name__ == "__main__":
                continue  # __main__ is pickled by value already
            if module.__name__.split(".")[0] in _SHIPPED_BY_REFERENCE:
                continue
            cloudpickle.register_pickle_by_value(module)


def registrations_for(spec: StudySpec) -> Registrations:
    """The driver-only registrations ``spec`` refers to (models by name, domains by name)."""
    models: list[type] = []
    for m in spec.models:
        cls = registered_here(m.model)
        if cls is not None and cls not in models:
            models.append(cls)
    known = registered_spaces()
    spaces = {dom: known[dom] for dom, _ in spec.domains if dom in known}
    return Registrations(models, spaces)


def describe_models(spec: StudySpec) -> str:
    """``ns=model`` for each model of ``spec``, for messages."""
    return ", ".join(f"{m.namespace}={m.model}" for m in spec.models)

