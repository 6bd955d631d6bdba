"""N:M magnitude masks: keep the N largest ``|w|`` in every group of M consecutive weights.

Grouping follows the official code (``get_sparse_mask``): the ``[out, in]`` weight is flattened
row-major and cut into groups of M, so with ``axis="input"`` (the code's ROW, default) a group is
M consecutive weights of one output neuron along the reduction dimension; ``axis="output"`` (COL)
transposes first, so groups run along the output dimension. Groups larger than a row (the big
early groups of SDGF-geometric) span rows, as in the code.
"""

from __future__ import annotations

from typing import Literal

import torch

from costmodels._protocol import ModelError


__all__ = ["MaskAxis", "check_group", "count_violations", "nm_mask"]

MaskAxis = Literal["input", "output"]


def _grouped(w: torch.Tensor, m: int, axis: MaskAxis) -> torch.Tensor:
    mat = w if axis == "input" else w.t()
    return mat.contiguous().reshape(-1, m)


def _ungroup(groups: torch.Tensor, shape: torch.Size, axis: MaskAxis) -> torch.Tensor:
    if axis == "input":
        return groups.reshape(shape)
    return groups.reshape(shape[1], shape[0]).t()


def check_group(shape: torch.Size | tuple[int, ...], m: int, axis: MaskAxis, layer: str) -> None:
    """Raise :class:`ModelError` unless M divides the grouped dimension of a ``[out, in]`` weight.

    The target M must divide the grouped dimension itself (``in_features`` for ``input``);
    larger SDGF groups only need to divide the whole weight.
    """
    out_f, in_f = int(shape[0]), int(shape[1])
    dim, dim_name = (in_f, "in_features") if axis == "input" else (out_f, "out_features")
    if m <= dim and dim % m:
        raise ModelError(
            f"m={m} does not divide the {'reduction' if axis == 'input' else 'output'} dimension "
            f"of layer {layer!r} ({dim_name}={dim}); choose m dividing {dim} or mask_axis="
            f"{'output' if axis == 'input' else 'input'}"
        )
    if (out_f * in_f) % m:
        raise ModelError(
            f"group size m={m} does not divide the {out_f}x{in_f} weight of layer {layer!r}"
        )


def nm_mask(w: torch.Tensor, n: int, m: int, axis: MaskAxis = "input") -> torch.Tensor:
    """Binary mask (same dtype as ``w``) keeping the top-``n`` ``|w|`` of each group of ``m``."""
    if n >= m:
        return torch.ones_like(w)
    groups = _grouped(w.detach().abs(), m, axis)
    idx = torch.topk(groups, n, dim=1, sorted=False).indices
    mask = torch.zeros_like(groups).scatter_(1, idx, 1.0)
    return _ungroup(mask, w.shape, axis)


def count_violations(w: torch.Tensor, n: int, m: int, axis: MaskAxis = "input") -> int:
    """Groups of ``w`` with more than ``n`` nonzeros (0 means ``w`` is exactly N:M)."""
    nonzero = (_grouped(w.detach(), m, axis) != 0).sum(dim=1)
    return int((nonzero > n).sum())
