"""What ``hil_quant.h`` fixes for every integer model: the model kinds (the protocol's), the gate and table formats,
the limits, and the error raised for what the formats cannot hold. tests/unit/test_quant_reference.py compares them
with the header.
"""

from __future__ import annotations

from typing import Literal

# The model kinds are the protocol's (hil_model.h, mirrored in harness/proto/wire.py); these are mirrored from
# firmware/include/hil/hil_quant.h (tests/unit/test_quant_reference.py compares them).
GATE_FRAC = 12
MAX_IN = 16384  # HIL_QUANT_MAX_IN
MAX_BIAS = 1 << 30  # HIL_QUANT_MAX_BIAS
LUT_ENTRIES = 513
Q31_SHIFT_MIN, Q31_SHIFT_MAX, Q15_SHIFT_MAX = -31, 30, 14
INDEX_BITS = (0, 2, 4, 8)
# Compression factor against float32 -> bits per clustered weight: 2^(32 / factor) centroids.
TARGET_FACTORS = {4: 8, 8: 4, 16: 2}
I16_MIN, I16_MAX = -32768, 32767
I32_MIN, I32_MAX = -(2**31), 2**31 - 1

Kind = Literal["s8", "s16"]


class QuantizationError(ValueError):
    """A model or range the integer formats cannot represent (a bias beyond int32, a shift out of range...)."""
