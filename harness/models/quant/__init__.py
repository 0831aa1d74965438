"""Quantized and compressed models: the integer reference of the ``hil_quant.h`` kernels, and the quantizer.

Reference
    Every function in ``fixed_point`` and ``forward`` reproduces the device bit for bit: the
    same int32/int64 accumulators, the single-rounding requantization ``(a * M + 2^(t-1)) >> t`` (round to nearest,
    ties toward +infinity), saturation, the 513-entry sigmoid/tanh tables with linear interpolation, the LSTM cell
    update in Q0.15 / Q3.12 / cell_frac. ``firmware/include/hil/hil_quant.h`` states the arithmetic;
    ``tests/kernels/test_quant_kernels.py`` compares kernel and reference for exact equality. Where the device's
    int32 accumulator would overflow, the reference raises ``OverflowError`` instead of guessing.

Quantizer (``calibration``, ``quantize``; host side: floats are fine here, the device never sees them)
    Calibration runs the float model over a representative subset of the *training* data and takes each tensor's
    min/max (``percentile=None``, the default) or a symmetric percentile. Min/max is the default because these models
    are small and their activation ranges tight: clipping outliers buys little resolution and costs saturation on the
    very samples that carry a gesture. Activations: int8 affine (range widened to include 0, scale = range / 255,
    zero point rounded), int16 symmetric (scale = max|x| / 32767). Weights: int8 symmetric per output row
    (scale = max|row| / 127). Biases: int32 in units of ``scale_in * scale_w[row]``. Q m.n: the fewest integer bits
    that hold the tensor's max magnitude (``frac_bits``). k-means: 1-D Lloyd iterations from a deterministic init
    (linear over [min, max], Deep Compression's best; or k-means++ from a seeded generator), a fixed number of
    iterations, one codebook per weight matrix quantized to int8 with one scale.

Types: ``qmodels``; limits and formats mirrored from the header: ``formats``. Blobs: ``blob.to_blob`` writes the
layouts documented in ``hil_quant.h``. The accuracy and size of every variant of the
study models is ``harness.suites.quant.quant_report()``.
"""

from __future__ import annotations

from harness.models.quant.blob import to_blob
from harness.models.quant.calibration import (
    AffineQuant,
    affine_quant,
    calibration_range,
    frac_bits,
    kmeans_1d,
    pack_indices,
    quantize_multiplier,
    quantize_weights_per_channel,
    symmetric_quant,
    to_fixed,
    unpack_indices,
)
from harness.models.quant.fixed_point import (
    SIGMOID_TABLE,
    TANH_TABLE,
    activation_table,
    cell_to_q3_12,
    requantize_q15,
    requantize_q31,
    rshift_round,
    sat16,
    sigmoid_s16,
    tanh_s16,
)
from harness.models.quant.formats import (
    GATE_FRAC,
    INDEX_BITS,
    LUT_ENTRIES,
    MAX_BIAS,
    MAX_IN,
    Q15_SHIFT_MAX,
    Q31_SHIFT_MAX,
    Q31_SHIFT_MIN,
    TARGET_FACTORS,
    Kind,
    QuantizationError,
)
from harness.models.quant.forward import (
    dense_q15,
    dense_s8,
    dense_s16,
    dequantize_output,
    lstm_forward,
    mlp_forward,
    predict,
    quantize_input,
)
from harness.models.quant.qmodels import (
    Q15Dense,
    Q15Lstm,
    Q15LstmLayer,
    Q15Mlp,
    QDense,
    QLstm,
    QLstmLayer,
    QMlp,
    QModel,
    QWeights,
)
from harness.models.quant.quantize import cluster_weights, quantize_lstm, quantize_mlp
from harness.proto.wire import (
    HIL_MODEL_LSTM_Q15,
    HIL_MODEL_LSTM_S8,
    HIL_MODEL_LSTM_S16,
    HIL_MODEL_MLP_Q15,
    HIL_MODEL_MLP_S8,
    HIL_MODEL_MLP_S16,
)

__all__ = [
    "GATE_FRAC",
    "HIL_MODEL_LSTM_Q15",
    "HIL_MODEL_LSTM_S8",
    "HIL_MODEL_LSTM_S16",
    "HIL_MODEL_MLP_Q15",
    "HIL_MODEL_MLP_S8",
    "HIL_MODEL_MLP_S16",
    "INDEX_BITS",
    "LUT_ENTRIES",
    "MAX_BIAS",
    "MAX_IN",
    "Q15_SHIFT_MAX",
    "Q31_SHIFT_MAX",
    "Q31_SHIFT_MIN",
    "SIGMOID_TABLE",
    "TANH_TABLE",
    "TARGET_FACTORS",
    "AffineQuant",
    "Kind",
    "Q15Dense",
    "Q15Lstm",
    "Q15LstmLayer",
    "Q15Mlp",
    "QDense",
    "QLstm",
    "QLstmLayer",
    "QMlp",
    "QModel",
    "QWeights",
    "QuantizationError",
    "activation_table",
    "affine_quant",
    "calibration_range",
    "cell_to_q3_12",
    "cluster_weights",
    "dense_q15",
    "dense_s8",
    "dense_s16",
    "dequantize_output",
    "frac_bits",
    "kmeans_1d",
    "lstm_forward",
    "mlp_forward",
    "pack_indices",
    "predict",
    "quantize_input",
    "quantize_lstm",
    "quantize_mlp",
    "quantize_multiplier",
    "quantize_weights_per_channel",
    "requantize_q15",
    "requantize_q31",
    "rshift_round",
    "sat16",
    "sigmoid_s16",
    "symmetric_quant",
    "tanh_s16",
    "to_blob",
    "to_fixed",
    "unpack_indices",
]
