"""Integer forward passes, bit-exact with the kernels, and the float <-> integer edges of a model."""

from __future__ import annotations

import numpy as np

from harness.models.quant.calibration import to_fixed
from harness.models.quant.fixed_point import (
    _cell_step,
    _check_int32,
    _i64,
    requantize_q15,
    requantize_q31,
    rshift_round,
    sat16,
)
from harness.models.quant.formats import Kind
from harness.models.quant.qmodels import Q15Dense, Q15Lstm, Q15Mlp, QDense, QLstm, QLstmLayer, QMlp, QModel


def dense_s8(d: QDense, x: object) -> np.ndarray:
    """``hil_dense_s8`` on ``x [B, cols]`` int8 -> ``[B, rows]`` int8."""
    acc = (_i64(x) - d.in_zp) @ d.weights.values.astype(np.int64).T + _i64(d.bias)
    _check_int32(acc, "dense_s8")
    y = requantize_q31(acc, d.multiplier, d.shift) + d.out_zp
    return np.clip(y, d.act_min, d.act_max).astype(np.int8)


def dense_s16(d: QDense, x: object) -> np.ndarray:
    """``hil_dense_s16`` on ``x [B, cols]`` int16 -> ``[B, rows]`` int16 (int64 accumulator, Q15 multiplier)."""
    acc = _i64(x) @ d.weights.values.astype(np.int64).T + _i64(d.bias)
    return np.clip(requantize_q15(acc, d.multiplier, d.shift), d.act_min, d.act_max).astype(np.int16)


def dense_q15(d: Q15Dense, x: object) -> np.ndarray:
    """``hil_dense_q15`` on ``x [B, cols]`` int16 -> ``[B, rows]`` int16."""
    acc = _i64(x) @ d.w.astype(np.int64).T + _i64(d.bias) * (1 << d.bias_shift)
    y = sat16(rshift_round(acc, d.out_shift))
    return (np.maximum(y, 0) if d.relu else y).astype(np.int16)


def mlp_forward(model: QMlp | Q15Mlp, xq: object) -> np.ndarray:
    """The integer network on quantized inputs ``[in]`` or ``[B, in]``; returns the integer outputs."""
    x = np.asarray(xq)
    single = x.ndim == 1
    h = x.reshape(1, -1) if single else x
    for layer in model.layers:
        if isinstance(model, Q15Mlp):
            h = dense_q15(layer, h)
        elif model.kind == "s8":
            h = dense_s8(layer, h)
        else:
            h = dense_s16(layer, h)
    return h[0] if single else h


def _qlstm_gates(layer: QLstmLayer, kind: Kind, x: np.ndarray, h: np.ndarray) -> np.ndarray:
    w_ih = layer.w_ih.values.astype(np.int64).T
    w_hh = layer.w_hh.values.astype(np.int64).T
    if kind == "s8":
        a_ih = (x - layer.x_zp) @ w_ih + layer.bias
        a_hh = (h - layer.h_zp) @ w_hh
        _check_int32(a_ih, "lstm_s8 input gates")
        _check_int32(a_hh, "lstm_s8 recurrent gates")
        g = requantize_q31(a_ih, layer.ih_multiplier, layer.ih_shift)
        g += requantize_q31(a_hh, layer.hh_multiplier, layer.hh_shift)
    else:
        g = requantize_q15(x @ w_ih + layer.bias, layer.ih_multiplier, layer.ih_shift)
        g += requantize_q15(h @ w_hh, layer.hh_multiplier, layer.hh_shift)
    return sat16(g)


def lstm_forward(model: QLstm | Q15Lstm, xq: object, *, all_steps: bool = False) -> np.ndarray:
    """The integer LSTM on quantized inputs ``[T, I]`` or ``[B, T, I]`` from zero state: the head's integer output
    on the last step (``[O]`` / ``[B, O]``) or on every step (``[T, O]`` / ``[B, T, O]``)."""
    x_all = _i64(xq)
    single = x_all.ndim == 2
    if single:
        x_all = x_all[np.newaxis]
    n_batch, n_steps, _ = x_all.shape
    q15 = isinstance(model, Q15Lstm)
    h = [np.full((n_batch, layer.hidden_size), 0 if q15 else layer.h_zp, np.int64) for layer in model.layers]
    c = [np.zeros((n_batch, layer.hidden_size), np.int64) for layer in model.layers]
    outs = []
    for t in range(n_steps):
        inp = x_all[:, t, :]
        for k, layer in enumerate(model.layers):
            if q15:
                acc = (inp @ layer.w_ih.astype(np.int64).T) * (1 << layer.ih_align)
                acc += (h[k] @ layer.w_hh.astype(np.int64).T) * (1 << layer.hh_align)
                acc += _i64(layer.bias) * (1 << layer.bias_align)
                gates = sat16(rshift_round(acc, layer.gate_shift))
            else:
                gates = _qlstm_gates(layer, model.kind, inp, h[k])
            c[k], p = _cell_step(gates, c[k], layer.cell_frac)
            if q15:
                h[k] = sat16(rshift_round(p, 30 - layer.h_frac))
            elif model.kind == "s8":
                h[k] = np.clip(requantize_q31(p, layer.h_multiplier, layer.h_shift) + layer.h_zp, -128, 127)
            else:
                h[k] = sat16(requantize_q31(p, layer.h_multiplier, layer.h_shift))
            inp = h[k]
        if all_steps or t == n_steps - 1:
            if q15:
                outs.append(dense_q15(model.head, inp))
            elif model.kind == "s8":
                outs.append(dense_s8(model.head, inp))
            else:
                outs.append(dense_s16(model.head, inp))
    y = np.stack(outs, axis=1) if all_steps else outs[-1]
    return y[0] if single else y


def quantize_input(model: QModel, x: object) -> np.ndarray:
    if isinstance(model, Q15Mlp | Q15Lstm):
        return to_fixed(x, model.in_frac)
    return model.input.quantize(x)


def dequantize_output(model: QModel, y: object) -> np.ndarray:
    if isinstance(model, Q15Mlp | Q15Lstm):
        return np.asarray(y, dtype=np.float64) / 2.0**model.out_frac
    return model.output.dequantize(y)


def predict(model: QModel, x: object, *, all_steps: bool = False) -> np.ndarray:
    """Float in, float out through the integer reference: quantize, run, dequantize (what the host does around a
    device run)."""
    xq = quantize_input(model, x)
    yq = mlp_forward(model, xq) if isinstance(model, QMlp | Q15Mlp) else lstm_forward(model, xq, all_steps=all_steps)
    return dequantize_output(model, yq)
