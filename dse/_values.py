"""Turning numpy and non-finite values into what JSON, Optuna attributes and CLIs store."""

from __future__ import annotations

import math
from typing import Any


__all__ = ["plain", "stored"]


def plain(value: Any) -> Any:
    """A numpy scalar as the Python scalar it holds; anything else unchanged."""
    if isinstance(value, str):
        return str(value)  # numpy.str_ too, which YAML cannot represent
    return value.item() if hasattr(value, "item") and not hasattr(value, "__len__") else value


def stored(value: Any) -> Any:
    """:func:`plain`, with NaN and infinities as ``None`` (JSON has no spelling for them)."""
    value = plain(value)
    return None if isinstance(value, float) and not math.isfinite(value) else value
