"""Registry of cost models: the built-ins, third-party entry points, and runtime registrations.

A model is named by its registered name (built-in, entry point or :func:`register`), or by an
import path ``package.module:Class`` that needs no registration at all.

Built-ins are recorded as ``module:Class`` strings and imported on first use, so listing models
does not import torch. Third-party packages register models under the ``dse.costmodels``
entry-point group::

    [project.entry-points."dse.costmodels"]
    my_model = "my_pkg.model:MyModel"
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
from typing import Any

from costmodels._protocol import CostModel, ModelError


__all__ = [
    "available_models",
    "get_model",
    "get_model_class",
    "is_import_path",
    "register",
    "registered_here",
]

ENTRY_POINT_GROUP = "dse.costmodels"

_BUILTIN: dict[str, str] = {
    "demo": "costmodels.demo:DemoModel",
    "sparse_gemm": "costmodels.sparse_gemm:SparseGemmModel",
    "nm_training": "costmodels.nm_training:NMTrainingModel",
    "sushi": "costmodels.sushi:SushiModel",
    "cluster": "costmodels.cluster:ClusterModel",
    "codesign_accuracy": "costmodels.codesign:AccuracyTransfer",
    "codesign_engine": "costmodels.codesign:EngineToServing",
    "codesign_training": "costmodels.codesign:TrainingOnCluster",
}

_registered: dict[str, type[CostModel]] = {}


def register(cls: type[CostModel]) -> type[CostModel]:
    """Register a model class under ``cls.name`` in this process (usable as a decorator).

    Raises:
        ModelError: when ``cls`` is not a :class:`CostModel` subclass with a ``name``.
    """
    if not (isinstance(cls, type) and issubclass(cls, CostModel)):
        raise ModelError(f"register: {cls!r} is not a CostModel subclass")
    if not isinstance(getattr(cls, "name", None), str) or not cls.name:
        raise ModelError(f"register: {cls.__name__} has no 'name' class attribute")
    _registered[cls.name] = cls
    return cls


def registered_here(name: str) -> type[CostModel] | None:
    """The class registered in this process under ``name`` (not a built-in or entry point)."""
    return _registered.get(name)


def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def _builtin_present(target: str) -> bool:
    return importlib.util.find_spec(target.split(":")[0]) is not None


def available_models() -> list[str]:
    """Names of every model that can be loaded."""
    names = [n for n, t in _BUILTIN.items() if _builtin_present(t)]
    names += [n for n in _entry_points() if n not in names]
    names += [n for n in _registered if n not in names]
    return names


def _load(target: str) -> type[CostModel]:
    module, _, attr = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except ImportError as exc:
        raise ModelError(f"model {target!r}: cannot import {module!r}: {exc}") from None
    except AttributeError:
        raise ModelError(f"model {target!r}: module {module!r} has no {attr!r}") from None
    if not (isinstance(cls, type) and issubclass(cls, CostModel)):
        raise ModelError(f"{target} is not a CostModel subclass")
    return cls


def is_import_path(name: str) -> bool:
    """Whether ``name`` is a ``package.module:Class`` import path."""
    module, sep, attr = name.partition(":")
    return bool(sep and module and attr.isidentifier())


def get_model_class(name: str) -> type[CostModel]:
    """The class of model ``name``.

    Raises:
        ModelError: naming the model and listing the available ones.
    """
    if name in _registered:
        return _registered[name]
    if is_import_path(name):
        return _load(name)
    if name in _BUILTIN and _builtin_present(_BUILTIN[name]):
        return _load(_BUILTIN[name])
    eps = _entry_points()
    if name in eps:
        cls = eps[name].load()
        if not (isinstance(cls, type) and issubclass(cls, CostModel)):
            raise ModelError(f"entry point {name!r} does not name a CostModel subclass")
        return cls
    raise ModelError(f"unknown model {name!r}; expected one of {', '.join(available_models())}")


def get_model(name: str, **options: Any) -> CostModel:
    """An instance of model ``name`` built with ``options``.

    Raises:
        ModelError: for an unknown model or options its constructor does not take.
    """
    cls = get_model_class(name)
    try:
        return cls(**options)
    except TypeError as exc:
        raise ModelError(f"model {name!r}: bad options {sorted(options)}: {exc}") from None
