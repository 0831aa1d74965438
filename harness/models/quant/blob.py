"""Blobs: an integer model -> the bytes MODEL_BEGIN/CHUNK/COMMIT send (header and layers, ``hil_quant.h``)."""

from __future__ import annotations

import struct
from collections.abc import Sequence

from harness.models.quant.formats import MAX_IN, QuantizationError
from harness.models.quant.qmodels import Q15Lstm, Q15Mlp, QLstm, QMlp, QModel, QWeights
from harness.proto.wire import (
    HIL_LSTM_MAX_LAYERS,
    HIL_MODEL_FORMAT_VERSION,
    HIL_MODEL_LSTM_Q15,
    HIL_MODEL_LSTM_S8,
    HIL_MODEL_LSTM_S16,
    HIL_MODEL_MAGIC,
    HIL_MODEL_MLP_Q15,
    HIL_MODEL_MLP_S8,
    HIL_MODEL_MLP_S16,
)

_HEADER = struct.Struct(f"<IHBBHH{HIL_LSTM_MAX_LAYERS}HB3x")
_KINDS = {
    ("mlp", "s8"): HIL_MODEL_MLP_S8,
    ("mlp", "s16"): HIL_MODEL_MLP_S16,
    ("lstm", "s8"): HIL_MODEL_LSTM_S8,
    ("lstm", "s16"): HIL_MODEL_LSTM_S16,
}


def _header(kind: int, input_size: int, output_size: int, sizes: Sequence[int], bits: int) -> bytes:
    if not 1 <= len(sizes) <= HIL_LSTM_MAX_LAYERS:
        raise QuantizationError(f"the device takes 1..{HIL_LSTM_MAX_LAYERS} layers, got {len(sizes)}")
    if max(input_size, output_size, *sizes) > MAX_IN:
        raise QuantizationError(f"sizes {input_size}, {list(sizes)}, {output_size} exceed HIL_QUANT_MAX_IN {MAX_IN}")
    slots = [*sizes, *([0] * (HIL_LSTM_MAX_LAYERS - len(sizes)))]
    return _HEADER.pack(
        HIL_MODEL_MAGIC, HIL_MODEL_FORMAT_VERSION, kind, len(sizes), input_size, output_size, *slots, bits
    )


def _common_bits(weights: Sequence[QWeights]) -> int:
    bits = {w.bits for w in weights}
    if len(bits) != 1:
        raise QuantizationError(f"one blob has one weight format; these matrices mix index bits {sorted(bits)}")
    return bits.pop()


def to_blob(model: QModel) -> bytes:
    """The model blob of ``hil_quant.h`` for any quantized model."""
    if isinstance(model, QMlp):
        bits = _common_bits([d.weights for d in model.layers])
        sizes = [d.rows for d in model.layers]
        header = _header(_KINDS["mlp", model.kind], model.layers[0].cols, sizes[-1], sizes, bits)
        return header + b"".join(d.to_bytes() for d in model.layers)
    if isinstance(model, Q15Mlp):
        sizes = [int(d.w.shape[0]) for d in model.layers]
        header = _header(HIL_MODEL_MLP_Q15, int(model.layers[0].w.shape[1]), sizes[-1], sizes, 0)
        return header + b"".join(d.to_bytes() for d in model.layers)
    if isinstance(model, QLstm):
        bits = _common_bits([w for layer in model.layers for w in (layer.w_ih, layer.w_hh)] + [model.head.weights])
        sizes = [layer.hidden_size for layer in model.layers]
        n_in = int(model.layers[0].w_ih.values.shape[1])
        header = _header(_KINDS["lstm", model.kind], n_in, model.head.rows, sizes, bits)
        return header + b"".join(layer.to_bytes() for layer in model.layers) + model.head.to_bytes()
    if isinstance(model, Q15Lstm):
        sizes = [layer.hidden_size for layer in model.layers]
        n_in = int(model.layers[0].w_ih.shape[1])
        header = _header(HIL_MODEL_LSTM_Q15, n_in, int(model.head.w.shape[0]), sizes, 0)
        return header + b"".join(layer.to_bytes() for layer in model.layers) + model.head.to_bytes()
    raise TypeError(f"to_blob takes QMlp, Q15Mlp, QLstm or Q15Lstm, not {type(model).__name__}")
