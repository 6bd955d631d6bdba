"""``dse validate``: every model's published numbers (anchors) against what it computes."""

from __future__ import annotations

from typing import Any


__all__ = ["validate_models"]


def validate_models(name: str | None = None) -> list[dict[str, Any]]:
    """Every anchor of every model (or of one model) as ``dse validate --json`` prints it."""
    from costmodels import available_models, get_model

    names = [name] if name else available_models()
    rows = []
    for n in names:
        model = get_model(n)
        rows += [a.as_dict() for a in model.anchors()]
    return rows
