"""Model options checked against the model's declared constructor signature.

A cost model's *options* are its constructor's keyword arguments (``[models.NAME.options]`` in a
study file, ``--option K=V`` on the command line). Their names and types are declared by the
signature itself (``delay_s: float = 0.0``), so that signature is the schema: an unknown name or
a value of the wrong type is refused with one line naming the option, the value and the type
expected, before the model is built and before anything is written.

Types understood: ``bool``, ``int``, ``float`` (an integer is accepted), ``str``, ``None``,
unions (``float | None``), ``Literal[...]``, ``list[T]`` / ``tuple[T, ...]`` / ``Sequence[T]``
and ``dict`` / ``Mapping``. An annotation outside these (a model's own class, ``Any``) accepts
any value; the model's constructor checks it.
"""

from __future__ import annotations

import collections.abc as cabc
import inspect
import types
import typing
from collections.abc import Mapping
from typing import Any

from costmodels import CostModel, ModelError, get_model, get_model_class


__all__ = ["build_model", "check_options"]

_SEQUENCES = (list, tuple, cabc.Sequence, cabc.Iterable, cabc.Collection)
_MAPPINGS = (dict, cabc.Mapping, cabc.MutableMapping)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _accepts(annotation: Any, value: Any) -> bool:
    """Whether ``value`` (a TOML or JSON value) fits ``annotation``."""
    if annotation is inspect.Parameter.empty or annotation is Any:
        return True
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return any(_accepts(a, value) for a in args)
    if origin is typing.Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if annotation is None or annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return _is_int(value)
    if annotation is float:
        return _is_int(value) or isinstance(value, float)
    if annotation is str:
        return isinstance(value, str)
    if origin in _SEQUENCES or annotation in _SEQUENCES:
        if not isinstance(value, list | tuple):
            return False
        items = [a for a in args if a is not Ellipsis]
        if origin is tuple and args and Ellipsis not in args:
            return len(value) == len(args) and all(_accepts(a, v) for a, v in zip(args, value))
        return not items or all(_accepts(items[0], v) for v in value)
    if origin in _MAPPINGS or annotation in _MAPPINGS:
        return isinstance(value, Mapping)
    if isinstance(annotation, type):
        return isinstance(value, annotation)
    return True


def _describe(annotation: Any) -> str:
    """The expected type in words, for error messages."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return " or ".join(dict.fromkeys(_describe(a) for a in args))
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
             type(None): "null (unset)"}
    if annotation is None:
        return names[type(None)]
    if annotation in names:
        return names[annotation]
    if origin in _SEQUENCES or annotation in _SEQUENCES:
        items = [a for a in args if a is not Ellipsis]
        return f"a list of {_plural(items[0])}" if items else "a list"
    if origin in _MAPPINGS or annotation in _MAPPINGS:
        return "a table"
    return getattr(annotation, "__name__", str(annotation))


def _plural(annotation: Any) -> str:
    words = {bool: "true/false values", int: "integers", float: "numbers", str: "strings"}
    return words.get(annotation, f"values ({_describe(annotation)})")


def _signature(cls: type[CostModel]) -> tuple[dict[str, inspect.Parameter], dict[str, Any], bool]:
    """Named options, their resolved annotations, and whether ``**kwargs`` takes any other."""
    params = dict(inspect.signature(cls.__init__).parameters)
    params.pop("self", None)
    open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    by_name = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    named = {n: p for n, p in params.items() if p.kind in by_name}
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # an annotation that does not resolve: names are still checked
        hints = {}
    return named, hints, open_ended


def check_options(model_name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` if every name and type fits the constructor of model ``model_name``.

    Raises:
        ModelError: one line naming the option, its value and the type expected.
    """
    cls = get_model_class(model_name)
    named, hints, open_ended = _signature(cls)
    for key, value in options.items():
        if key not in named:
            if open_ended:
                continue
            raise ModelError(
                f"model {model_name!r} has no option {key!r}; expected one of "
                f"{', '.join(named) or 'none (it takes no options)'}"
            )
        annotation = hints.get(key, named[key].annotation)
        if not _accepts(annotation, value):
            raise ModelError(
                f"model {model_name!r}: option {key} = {value!r}: expected {_describe(annotation)}"
            )
    return dict(options)


def build_model(model_name: str, options: Mapping[str, Any]) -> CostModel:
    """Model ``model_name`` built with checked ``options``.

    A constructor that refuses a well-typed value (a missing trace file, an unknown preset)
    with ``ValueError`` is reported the same way, as a :class:`ModelError`.

    Raises:
        ModelError: one line naming the model and what was wrong with its options.
    """
    checked = check_options(model_name, options)
    try:
        return get_model(model_name, **checked)
    except ModelError:
        raise
    except (ValueError, TypeError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"model {model_name!r}: bad options: {first[:300]}") from None
