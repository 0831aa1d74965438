"""The quantizers: a float MLP or LSTM plus calibration inputs -> an integer model of the asked kind."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from harness.models import dense, lstm
from harness.models.dense import MlpModel
from harness.models.lstm import LstmModel
from harness.models.quant.calibration import (
    AffineQuant,
    _multipliers,
    affine_quant,
    calibration_range,
    frac_bits,
    kmeans_1d,
    quantize_multiplier,
    quantize_weights_per_channel,
    symmetric_quant,
    to_fixed,
)
from harness.models.quant.formats import (
    GATE_FRAC,
    INDEX_BITS,
    MAX_BIAS,
    Q15_SHIFT_MAX,
    Q31_SHIFT_MAX,
    Kind,
    QuantizationError,
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
    QWeights,
)


def cluster_weights(w: object, bits: int, *, iterations: int = 30, seed: int = 0) -> tuple[QWeights, np.ndarray]:
    """k-means with ``2^bits`` centroids over the whole matrix, centroids quantized to int8 with one scale.
    Returns the clustered weights and the (equal) scale of every row."""
    wf = np.asarray(w, dtype=np.float64)
    centroids, labels = kmeans_1d(wf, 1 << bits, iterations=iterations, seed=seed)
    absmax = float(np.abs(centroids).max())
    scale = absmax / 127.0 if absmax > 0 else 1.0
    codebook = np.clip(np.rint(centroids / scale), -127, 127).astype(np.int8)
    weights = QWeights.clustered(codebook, labels.reshape(wf.shape).astype(np.uint8))
    return weights, np.full(wf.shape[0], scale)


def _int8_weights(w: np.ndarray, bits: int) -> tuple[QWeights, np.ndarray]:
    if bits not in INDEX_BITS:
        raise ValueError(f"index_bits={bits}; use 0 (plain int8) or 2, 4, 8 (k-means)")
    if bits == 0:
        q, scales = quantize_weights_per_channel(w)
        return QWeights(q), scales
    return cluster_weights(w, bits)


def _int32_bias(b: np.ndarray, scales: np.ndarray, what: str) -> np.ndarray:
    q = np.rint(np.asarray(b, dtype=np.float64) / scales)
    if np.abs(q).max(initial=0) > MAX_BIAS:
        raise QuantizationError(
            f"{what}: bias {float(np.abs(b).max()):.3g} is {float(np.abs(q).max()):.3g} units of scale_in * scale_w, "
            "beyond the 2^30 the int32 accumulator allows; the input scale is too fine for this bias"
        )
    return q.astype(np.int32)


def _act_quant(kind: Kind, values: np.ndarray, percentile: float | None) -> AffineQuant:
    lo, hi = calibration_range(values, percentile)
    return affine_quant(lo, hi, 8) if kind == "s8" else symmetric_quant(max(abs(lo), abs(hi)), 16)


def _absmax(values: object, percentile: float | None) -> float:
    lo, hi = calibration_range(values, percentile)
    return max(abs(lo), abs(hi))


def quantize_mlp(
    model: MlpModel,
    calib_x: object,
    *,
    kind: Literal["s8", "s16", "q15"] = "s8",
    index_bits: int = 0,
    percentile: float | None = None,
) -> QMlp | Q15Mlp:
    """Post-training quantization of ``model`` calibrated on ``calib_x [N, in]`` (a representative training subset).
    ``index_bits`` 2/4/8 clusters every weight matrix with k-means (s8 and s16 only)."""
    x = np.asarray(calib_x, dtype=np.float64)
    outs = dense.layer_outputs(model, x, dtype=np.float64)
    last = len(model.layers) - 1
    if kind == "q15":
        if index_bits:
            raise QuantizationError("clustered weights are int8 codebooks: use kind 's8' or 's16' with index_bits")
        in_frac = frac_bits(_absmax(x, percentile))
        x_f = in_frac
        layers15 = []
        for k, (layer, y) in enumerate(zip(model.layers, outs, strict=True)):
            w_f = frac_bits(float(np.abs(layer.w).max()))
            acc_f = x_f + w_f
            b_f = min(frac_bits(float(np.abs(layer.b).max())), acc_f)
            out_f = min(frac_bits(_absmax(y, percentile)), acc_f)
            layers15.append(
                Q15Dense(to_fixed(layer.w, w_f), to_fixed(layer.b, b_f), acc_f - b_f, acc_f - out_f, relu=k < last)
            )
            x_f = out_f
        return Q15Mlp(layers15, in_frac=in_frac, out_frac=x_f)
    if kind not in ("s8", "s16"):
        raise ValueError(f"kind={kind!r}; use 's8', 's16' or 'q15'")
    in_q = _act_quant(kind, x, percentile)
    prev = in_q
    layers = []
    for k, (layer, y) in enumerate(zip(model.layers, outs, strict=True)):
        out_q = _act_quant(kind, y, percentile)
        weights, w_scales = _int8_weights(layer.w, index_bits)
        bias = _int32_bias(layer.b, prev.scale * w_scales, f"layer {k}")
        max_shift = Q31_SHIFT_MAX if kind == "s8" else Q15_SHIFT_MAX
        mult, shift = _multipliers(prev.scale * w_scales / out_q.scale, max_shift, f"layer {k}")
        # A fused ReLU is the activation range starting at the code of 0.
        act_min = (out_q.zero_point if kind == "s8" else 0) if k < last else out_q.qmin
        layers.append(QDense(weights, bias, mult, shift, prev.zero_point, out_q.zero_point, act_min, out_q.qmax))
        prev = out_q
    return QMlp(kind, layers, input=in_q, output=prev)


@dataclass
class _LstmTrace:
    x: list[np.ndarray] = field(default_factory=list)  # each layer's input
    h: list[np.ndarray] = field(default_factory=list)
    c_absmax: list[float] = field(default_factory=list)
    y: np.ndarray | None = None


def _lstm_trace(model: LstmModel, X: np.ndarray) -> _LstmTrace:
    """The float64 forward of ``lstm.forward``, keeping what calibration needs."""
    xs = np.asarray(X, dtype=np.float64)
    n_batch, n_steps, _ = xs.shape
    trace = _LstmTrace()
    inp_seq = xs
    for layer in model.layers:
        n_h = layer.hidden_size
        h = np.zeros((n_batch, n_h))
        c = np.zeros((n_batch, n_h))
        hs, cmax = [], 0.0
        bias = layer.b_ih.astype(np.float64) + layer.b_hh
        for t in range(n_steps):
            gates = inp_seq[:, t] @ layer.w_ih.T.astype(np.float64) + h @ layer.w_hh.T.astype(np.float64) + bias
            g_i, g_f, g_g, g_o = np.split(gates, 4, axis=1)
            c = lstm._sigmoid(g_f) * c + lstm._sigmoid(g_i) * np.tanh(g_g)
            h = lstm._sigmoid(g_o) * np.tanh(c)
            hs.append(h)
            cmax = max(cmax, float(np.abs(c).max()))
        trace.x.append(inp_seq)
        inp_seq = np.stack(hs, axis=1)
        trace.h.append(inp_seq)
        trace.c_absmax.append(cmax)
    trace.y = inp_seq @ model.dense_w.T.astype(np.float64) + model.dense_b
    return trace


def quantize_lstm(
    model: LstmModel,
    calib_x: object,
    *,
    kind: Literal["s8", "s16", "q15"] = "s8",
    index_bits: int = 0,
    percentile: float | None = None,
) -> QLstm | Q15Lstm:
    """Post-training quantization of an LSTM calibrated on ``calib_x [N, T, I]`` (every step of every window counts;
    the head's range is taken over every step too, so all-steps inference is covered)."""
    trace = _lstm_trace(model, np.asarray(calib_x, dtype=np.float64))
    if kind == "q15":
        if index_bits:
            raise QuantizationError("clustered weights are int8 codebooks: use kind 's8' or 's16' with index_bits")
        in_frac = frac_bits(_absmax(trace.x[0], percentile))
        x_f = in_frac
        layers15 = []
        for k, layer in enumerate(model.layers):
            h_f = frac_bits(_absmax(trace.h[k], percentile))
            wih_f = frac_bits(float(np.abs(layer.w_ih).max()))
            whh_f = frac_bits(float(np.abs(layer.w_hh).max()))
            bias = layer.b_ih.astype(np.float64) + layer.b_hh
            f = max(GATE_FRAC, x_f + wih_f, h_f + whh_f)
            b_f = min(frac_bits(float(np.abs(bias).max())), f)
            ih_align, hh_align = f - (x_f + wih_f), f - (h_f + whh_f)
            if max(ih_align, hh_align) > 16:
                raise QuantizationError(f"layer {k}: aligning the gate sums needs a shift of {max(ih_align, hh_align)}")
            layers15.append(
                Q15LstmLayer(
                    to_fixed(layer.w_ih, wih_f),
                    to_fixed(layer.w_hh, whh_f),
                    to_fixed(bias, b_f),
                    ih_align,
                    hh_align,
                    f - b_f,
                    f - GATE_FRAC,
                    frac_bits(trace.c_absmax[k]),  # c is int16 with a power-of-two scale
                    h_f,
                )
            )
            x_f = h_f
        w_f = frac_bits(float(np.abs(model.dense_w).max()))
        acc_f = x_f + w_f
        b_f = min(frac_bits(float(np.abs(model.dense_b).max())), acc_f)
        out_f = min(frac_bits(_absmax(trace.y, percentile)), acc_f)
        head = Q15Dense(to_fixed(model.dense_w, w_f), to_fixed(model.dense_b, b_f), acc_f - b_f, acc_f - out_f)
        return Q15Lstm(layers15, head, in_frac=in_frac, out_frac=out_f)
    if kind not in ("s8", "s16"):
        raise ValueError(f"kind={kind!r}; use 's8', 's16' or 'q15'")
    max_shift = Q31_SHIFT_MAX if kind == "s8" else Q15_SHIFT_MAX
    in_q = _act_quant(kind, trace.x[0], percentile)
    x_q = in_q
    layers = []
    for k, layer in enumerate(model.layers):
        h_q = _act_quant(kind, trace.h[k], percentile)
        w_ih, s_ih = _int8_weights(layer.w_ih, index_bits)
        w_hh, s_hh = _int8_weights(layer.w_hh, index_bits)
        bias = _int32_bias(layer.b_ih.astype(np.float64) + layer.b_hh, x_q.scale * s_ih, f"layer {k}")
        gate_unit = 2.0**-GATE_FRAC
        ih_m, ih_s = _multipliers(x_q.scale * s_ih / gate_unit, max_shift, f"layer {k} input gates")
        hh_m, hh_s = _multipliers(h_q.scale * s_hh / gate_unit, max_shift, f"layer {k} recurrent gates")
        h_m, h_s = quantize_multiplier(2.0**-30 / h_q.scale)  # o * tanh(c) is Q0.30; always the Q31 form
        layers.append(
            QLstmLayer(
                w_ih,
                w_hh,
                bias,
                ih_m,
                ih_s,
                hh_m,
                hh_s,
                x_q.zero_point,
                h_q.zero_point,
                frac_bits(trace.c_absmax[k]),  # c is int16 with a power-of-two scale
                h_m,
                h_s,
            )
        )
        x_q = h_q
    out_q = _act_quant(kind, trace.y, percentile)
    w, s_w = _int8_weights(model.dense_w, index_bits)
    head = QDense(
        w,
        _int32_bias(model.dense_b, x_q.scale * s_w, "head"),
        *_multipliers(x_q.scale * s_w / out_q.scale, max_shift, "head"),
        x_q.zero_point,
        out_q.zero_point,
        out_q.qmin,
        out_q.qmax,
    )
    return QLstm(kind, layers, head, input=in_q, output=out_q)
