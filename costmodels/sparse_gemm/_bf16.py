"""bfloat16 emulation in numpy: round float32 to bf16 bit patterns and back.

bf16 is the upper 16 bits of an IEEE float32 (1 sign, 8 exponent, 7 mantissa bits), the input
format of AMX TDPBF16PS and of VEGETA's tile instructions (reference notes section 1.1). Rounding
is to nearest, ties to even, as hardware conversions do. NaNs are not special-cased: the inputs
here are finite weights and activations.
"""

from __future__ import annotations

import numpy as np


__all__ = ["bf16_round", "from_bf16_bits", "to_bf16_bits"]


def to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """bf16 bit patterns (``uint16``) of ``x`` rounded to nearest even."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    # Adding 0x7FFF plus the lowest kept bit rounds half to even before truncation.
    rounded = u + (np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1)))
    return (rounded >> np.uint32(16)).astype(np.uint16)


def from_bf16_bits(bits: np.ndarray) -> np.ndarray:
    """float32 values of bf16 bit patterns (exact)."""
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << np.uint32(16)).view(np.float32)


def bf16_round(x: np.ndarray) -> np.ndarray:
    """``x`` rounded to the nearest bf16 value, returned as float32."""
    return from_bf16_bits(to_bf16_bits(x))
