"""The model's native configuration schema (what export writes) and its inverse.

A flat design point becomes nested sections an architect reads directly::

    {"engine": {"name": "VEGETA-S-16-2", "engine": "vegeta", "alpha": 16, "beta": 2,
                "sparse_capable": true, "tile_regs": 8},
     "core": {...}, "kernel": {...}, "sparsity": {...}}

``from_native`` accepts exactly these sections (``name`` is informational) and returns the flat
parameters, so ``from_native(native_config(p)) == p`` for every complete point.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from costmodels._protocol import ModelError


if TYPE_CHECKING:
    from costmodels.sparse_gemm._model import SparseGemmModel

__all__ = ["SECTIONS", "engine_name", "from_native", "to_native"]

SECTIONS: dict[str, tuple[str, ...]] = {
    "engine": ("engine", "alpha", "beta", "sparse_capable", "tile_regs"),
    "core": (
        "load_ports",
        "load_port_bytes",
        "clock_ghz",
        "l2_bytes_per_cycle",
        "l2_kib",
        "dram_gbps",
    ),
    "kernel": ("blocking", "b_m", "b_n", "loop_order"),
    "sparsity": ("sparsity", "nm_n", "nm_m", "density", "row_chunk"),
}


def engine_name(params: Mapping[str, Any]) -> str:
    """``VEGETA-S-16-2``-style name of the engine of a point."""
    if params["engine"] == "rasa_sm":
        return "RASA-SM"
    kind = "S" if params["sparse_capable"] else "D"
    return f"VEGETA-{kind}-{params['alpha']}-{params['beta']}"


def _python(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def to_native(model: SparseGemmModel, params: Mapping[str, Any]) -> dict[str, Any]:
    flat = {p.name: _python(params.get(p.name, p.default)) for p in model.inputs}
    unknown = set(params) - set(flat)
    if unknown:
        raise ModelError(f"model 'sparse_gemm' has no parameter(s) {sorted(unknown)}")
    native: dict[str, Any] = {s: {n: flat[n] for n in names} for s, names in SECTIONS.items()}
    native["engine"] = {"name": engine_name(flat), **native["engine"]}
    return native


def from_native(model: SparseGemmModel, config: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(config) - set(SECTIONS)
    if unknown:
        raise ModelError(
            f"sparse_gemm config: unknown section(s) {sorted(unknown)}; expected {list(SECTIONS)}"
        )
    flat: dict[str, Any] = {}
    for section, names in SECTIONS.items():
        body = dict(config.get(section, {}))
        body.pop("name", None) if section == "engine" else None
        extra = set(body) - set(names)
        if extra:
            raise ModelError(
                f"sparse_gemm config [{section}]: unknown key(s) {sorted(extra)}; "
                f"expected some of {list(names)}"
            )
        for name in names:
            if name in body:
                flat[name] = model.input(name).coerce(body[name])
    return flat
