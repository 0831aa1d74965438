"""``.tflite`` files: float32 UNIDIRECTIONAL_SEQUENCE_LSTM and FULLY_CONNECTED, int8 FULLY_CONNECTED networks with
the file's own scales and zero points, a final SOFTMAX or LOGISTIC, and the RESHAPE/STRIDED_SLICE an exporter puts
around them; the LiteRT interpreter (``ai-edge-litert``) is the reference and its flatbuffer schema reads the file.

An int8 network runs on the device's s8 dense kernel: the multipliers and shifts are made from the file's scales as
LiteRT makes them, and the device's requantization (one rounding of acc * M * 2^(shift - 31), ties up) is the one of
LiteRT's reference kernels and of its default interpreter: measured on tests/models/imu_mlp_int8.tflite, 0 of 2,560
outputs differ. (LiteRT's optimized built-in kernels without the default delegate round twice, gemmlowp's way, and
differ by one LSB in 5 of them; the reference is the default interpreter.)
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from harness.importers.base import ImportedModel, ImportRefused, Reference, float_model, need
from harness.models.dense import DenseLayer
from harness.models.lstm import LstmLayer
from harness.models.quant.calibration import AffineQuant, QuantizationError
from harness.models.quant.qmodels import QDense, QLstm, QLstmLayer, QMlp, QWeights

SUFFIXES = (".tflite",)
FORMAT = "tflite"

_FLOAT32, _INT32, _INT8 = 0, 2, 9  # schema TensorType
_ACT_NONE, _ACT_RELU, _ACT_RELU6, _ACT_TANH = 0, 1, 3, 4


def _schema() -> Any:
    return need("ai_edge_litert.schema_py_generated", "ai-edge-litert", "reading .tflite files")


class _File:
    def __init__(self, path: Path) -> None:
        s = _schema()
        self.s = s
        self.path = path
        data = path.read_bytes()
        if len(data) < 8 or data[4:8] != b"TFL3":
            raise ImportRefused(f"{path}: not a TFLite flatbuffer (no 'TFL3' identifier)")
        self.model = s.ModelT.InitFromPackedBuf(data, 0)
        if len(self.model.subgraphs) != 1:
            raise ImportRefused(f"{path}: {len(self.model.subgraphs)} subgraphs; the device runs one chain of layers")
        self.graph = self.model.subgraphs[0]
        self.names = {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}

    def op_name(self, op: Any) -> str:
        code = self.model.operatorCodes[op.opcodeIndex]
        return self.names.get(max(code.builtinCode, code.deprecatedBuiltinCode), f"custom {code.customCode!r}")

    def where(self, k: int, op: Any) -> str:
        out = self.tensor(op.outputs[0])
        return f"{self.op_name(op)} at operator {k} ({out.name.decode(errors='replace')})"

    def refuse(self, k: int, op: Any, why: str) -> ImportRefused:
        return ImportRefused(f"{self.path.name}: {self.where(k, op)}: {why}")

    def tensor(self, index: int) -> Any:
        return self.graph.tensors[index]

    def array(self, index: int) -> np.ndarray | None:
        """A constant tensor's values, or None for a tensor without data."""
        if index < 0:
            return None
        t = self.tensor(index)
        buf = self.model.buffers[t.buffer].data if t.buffer < len(self.model.buffers) else None
        if buf is None or len(buf) == 0:
            return None
        dtype = {_FLOAT32: np.float32, _INT32: np.int32, _INT8: np.int8}.get(t.type)
        if dtype is None:
            raise ImportRefused(f"{self.path.name}: tensor {t.name!r} has element type {t.type}, not mapped")
        return np.frombuffer(np.asarray(buf, np.uint8).tobytes(), dtype=dtype).reshape(list(t.shape))

    def const(self, k: int, op: Any, slot: int, what: str) -> np.ndarray:
        value = self.array(op.inputs[slot]) if slot < len(op.inputs) else None
        if value is None:
            raise self.refuse(k, op, f"its {what} is not a constant in the file")
        return value

    def quant(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        q = self.tensor(index).quantization
        if q is None or q.scale is None or len(q.scale) == 0:
            return np.zeros(0), np.zeros(0, np.int64)
        return np.asarray(q.scale, np.float32), np.asarray(q.zeroPoint, np.int64)


def load(path: Path) -> ImportedModel:
    f = _File(Path(path))
    g = f.graph
    if len(g.inputs) != 1 or len(g.outputs) != 1:
        raise ImportRefused(f"{f.path.name}: {len(g.inputs)} inputs and {len(g.outputs)} outputs; the device takes "
                            "one input and answers one output")  # fmt: skip
    x_t = f.tensor(g.inputs[0])
    shape = list(x_t.shape)
    if len(shape) not in (2, 3) or shape[0] != 1:
        raise ImportRefused(f"{f.path.name}: input shape {shape}; the device takes [1, features] or "
                            "[1, steps, features]")  # fmt: skip
    sequence = len(shape) == 3
    ops = list(enumerate(g.operators))
    kinds = {f.op_name(op) for _, op in ops}
    if x_t.type == _INT8 or "QUANTIZE" in kinds:
        return _load_int8(f, ops, shape, sequence)
    return _load_float(f, ops, shape, sequence)


def _fc_float(f: _File, k: int, op: Any) -> tuple[DenseLayer, int]:
    opts = op.builtinOptions
    act = getattr(opts, "fusedActivationFunction", _ACT_NONE)
    if act not in (_ACT_NONE, _ACT_RELU):
        raise f.refuse(k, op, f"fused activation {act}: only none and RELU are mapped")
    w = f.const(k, op, 1, "weights").astype(np.float32)
    b = f.array(op.inputs[2]) if len(op.inputs) > 2 else None
    b = np.zeros(w.shape[0], np.float32) if b is None else b.astype(np.float32)
    return DenseLayer(w=w, b=b), act


def _lstm(f: _File, k: int, op: Any, position: int) -> tuple[LstmLayer, float]:
    """The layer, and its cell clip (0: none). The converter gives every Keras LSTM a clip of the cell state at
    +-10; the device does not clip, which is the same computation while |c| stays below it: validation checks
    that on the data (harness.suites.validate), so the clip is taken, not refused."""
    opts = op.builtinOptions
    if getattr(opts, "fusedActivationFunction", _ACT_TANH) != _ACT_TANH:
        raise f.refuse(k, op, "its cell activation is not tanh; the device's LSTM has tanh")
    if getattr(opts, "projClip", 0.0):
        raise f.refuse(k, op, f"projClip={opts.projClip}: the device's LSTM has no projection")
    if getattr(opts, "timeMajor", False):
        raise f.refuse(k, op, "time_major: only batch-major [1, T, F] is mapped")
    ins = list(op.inputs) + [-1] * (24 - len(op.inputs))
    if ins[1] < 0:
        raise f.refuse(k, op, "CIFG (no input gate) is not the device's LSTM")
    for slot, what in ((9, "peephole"), (10, "peephole"), (11, "peephole"), (16, "projection"),
                       (20, "layer norm"), (21, "layer norm"), (22, "layer norm"), (23, "layer norm")):  # fmt: skip
        if ins[slot] >= 0:
            raise f.refuse(k, op, f"has {what} weights (input {slot}); the device's LSTM has none")
    for slot, what in ((18, "output state"), (19, "cell state")):
        value = f.array(ins[slot])
        if value is not None and np.any(value):
            raise f.refuse(k, op, f"its initial {what} is not zero; the device starts every window from zero")
    # gate order i, f, c, o: PyTorch's i, f, g, o
    w_ih = np.concatenate([f.const(k, op, s, "input weights") for s in (1, 2, 3, 4)]).astype(np.float32)
    w_hh = np.concatenate([f.const(k, op, s, "recurrent weights") for s in (5, 6, 7, 8)]).astype(np.float32)
    b = np.concatenate([f.const(k, op, s, "gate bias") for s in (12, 13, 14, 15)]).astype(np.float32)
    return LstmLayer(w_ih=w_ih, w_hh=w_hh, b_ih=b, b_hh=np.zeros_like(b)), float(getattr(opts, "cellClip", 0.0))


def _last_step(f: _File, k: int, op: Any, steps: int) -> None:
    begin = f.const(k, op, 1, "begin")
    out = list(f.tensor(op.outputs[0]).shape)
    if len(begin) != 3 or int(begin[1]) not in (-1, steps - 1) or len(out) != 2:
        raise f.refuse(k, op, f"a slice that is not the last time step (begin {begin.tolist()}, output {out})")


def _load_float(f: _File, ops: list[tuple[int, Any]], shape: list[int], sequence: bool) -> ImportedModel:
    layers: list[LstmLayer] = []
    dense: list[DenseLayer] = []
    relu: list[bool] = []
    clips: list[float] = []
    final = None
    lines: list[str] = []
    for k, op in ops:
        name = f.op_name(op)
        if final is not None:
            raise f.refuse(k, op, f"comes after the final {final}")
        if name == "UNIDIRECTIONAL_SEQUENCE_LSTM":
            if dense:
                raise f.refuse(k, op, "an LSTM after a dense layer has no device kernel")
            layer, clip = _lstm(f, k, op, len(layers))
            layers.append(layer)
            if clip:
                clips.append(clip)
            lines.append(f"LSTM {layer.input_size} -> {layer.hidden_size}{f', cell clip {clip:g}' if clip else ''} "
                         f"({f.where(k, op)})")  # fmt: skip
        elif name == "FULLY_CONNECTED":
            layer, act = _fc_float(f, k, op)
            dense.append(layer)
            relu.append(act == _ACT_RELU)
            lines.append(f"Dense {layer.w.shape[1]} -> {layer.w.shape[0]}{', RELU' if relu[-1] else ''} "
                         f"({f.where(k, op)})")  # fmt: skip
        elif name == "STRIDED_SLICE" and sequence and layers and not dense:
            _last_step(f, k, op, shape[1])
        elif name == "RESHAPE":
            pass
        elif name in ("SOFTMAX", "LOGISTIC"):
            final = "softmax" if name == "SOFTMAX" else "sigmoid"
        else:
            raise f.refuse(k, op, "this operator has no device counterpart; mapped are UNIDIRECTIONAL_SEQUENCE_LSTM, "
                                  "FULLY_CONNECTED (none/RELU), a final SOFTMAX or LOGISTIC, RESHAPE and the "
                                  "STRIDED_SLICE of the last step")  # fmt: skip
    model = float_model(f.path.name, layers, dense, relu, lines)
    return ImportedModel(path=f.path, format=FORMAT, model=model, sequence=sequence, features=int(shape[-1]),
                         steps=int(shape[1]) if sequence else None, final_activation=final, layers=tuple(lines),
                         cell_clip=min(clips) if clips else None)  # fmt: skip


def quantize_multiplier(real: float) -> tuple[int, int]:
    """LiteRT's ``QuantizeMultiplier``: ``real = M * 2^(shift - 31)``, ``M`` in ``[2^30, 2^31)`` rounded half away
    from zero; a factor too small for that gives ``(0, 0)``."""
    if real == 0.0:
        return 0, 0
    frac, shift = math.frexp(real)
    q = math.floor(abs(frac) * (1 << 31) + 0.5) * (1 if frac >= 0 else -1)
    if q == 1 << 31:
        q //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        raise QuantizationError(f"requantization factor {real} needs a left shift of {shift} > 30")
    return q, shift


def _fc_int8(f: _File, k: int, op: Any, in_q: tuple[float, int]) -> QDense:
    w = f.const(k, op, 1, "weights")
    if w.dtype != np.int8:
        raise f.refuse(k, op, f"weights of type {w.dtype}: only int8 weights are mapped")
    w_scale, w_zp = f.quant(op.inputs[1])
    if np.any(w_zp != 0):
        raise f.refuse(k, op, "weights with a non-zero zero point (LiteRT's int8 weights are symmetric)")
    out_scale, out_zp = f.quant(op.outputs[0])
    bias = f.array(op.inputs[2]) if len(op.inputs) > 2 else None
    rows = w.shape[0]
    bias = np.zeros(rows, np.int32) if bias is None else bias.astype(np.int32)
    in_scale, in_zp = in_q
    o_scale, o_zp = float(out_scale[0]), int(out_zp[0])
    if len(w_scale) == 1:  # per tensor: LiteRT multiplies the two float scales in float, then goes to double
        product = float(np.float32(in_scale) * np.float32(w_scale[0]))
        factors = [product / o_scale] * rows
    else:
        factors = [float(in_scale) * float(s) / o_scale for s in w_scale]
    pairs = [quantize_multiplier(x) for x in factors]
    act = getattr(op.builtinOptions, "fusedActivationFunction", _ACT_NONE)

    if act == _ACT_NONE:
        lo, hi = -128, 127
    elif act == _ACT_RELU:
        lo, hi = max(-128, o_zp), 127
    elif act == _ACT_RELU6:
        lo, hi = max(-128, o_zp), min(127, o_zp + math.floor(6.0 / o_scale + 0.5))
    else:
        raise f.refuse(k, op, f"fused activation {act}: only none, RELU and RELU6 are mapped")
    return QDense(
        weights=QWeights(values=w),
        bias=bias,
        multiplier=np.array([m for m, _ in pairs], np.int32),
        shift=np.array([s for _, s in pairs], np.int8),
        in_zp=int(in_zp),
        out_zp=o_zp,
        act_min=lo,
        act_max=hi,
    )


_GATE_FRAC = 12  # LiteRT's integer LSTM keeps gate pre-activations in Q3.12, as the device does


def _lstm_int8(f: _File, k: int, op: Any, x_q: tuple[float, int]) -> QLstmLayer:
    """LiteRT's 8x8_16 integer LSTM onto the device's s8 LSTM: the same structure (input and recurrent parts
    requantized to Q3.12 apart, a power-of-two int16 cell, h = requant(o * tanh(c)) + zero point); what differs is
    in docs/validate.md (int8 LSTMs) and measured by validation."""
    opts = op.builtinOptions
    if getattr(opts, "fusedActivationFunction", _ACT_TANH) != _ACT_TANH or getattr(opts, "timeMajor", False):
        raise f.refuse(k, op, "only a tanh cell activation and batch-major input are mapped")
    ins = list(op.inputs) + [-1] * (24 - len(op.inputs))
    if ins[1] < 0 or any(ins[s] >= 0 for s in (9, 10, 11, 16, 20, 21, 22, 23)):
        raise f.refuse(k, op, "CIFG, peepholes, projection or layer norm: not the device's LSTM")
    h_index, c_index = ins[18], ins[19]
    h_scale, h_zp = (float(v[0]) for v in f.quant(h_index))
    c_scale = float(f.quant(c_index)[0][0])
    cell_frac = -math.frexp(c_scale)[1] + 1
    if c_scale != 2.0**-cell_frac or not 0 <= cell_frac <= 15:
        raise f.refuse(k, op, f"cell scale {c_scale}: the device's cell is int16 with a power-of-two scale")
    clip = float(getattr(opts, "cellClip", 0.0))
    if clip and clip / c_scale < 32767:  # the converter's usual 10 is far beyond an int16 cell of scale 2^-14
        raise f.refuse(k, op, f"cell clip {clip} inside the int16 cell's range: the device does not clip")
    x_scale, x_zp = x_q
    w_ih, w_hh, bias, ih_m, ih_s, hh_m, hh_s = [], [], [], [], [], [], []
    for gate in range(4):  # i, f, c (g), o: PyTorch's order
        wi = f.const(k, op, 1 + gate, "input weights")
        wh = f.const(k, op, 5 + gate, "recurrent weights")
        b = f.const(k, op, 12 + gate, "gate bias").astype(np.int64)
        wi_scale, wh_scale = float(f.quant(ins[1 + gate])[0][0]), float(f.quant(ins[5 + gate])[0][0])
        m_i, s_i = quantize_multiplier(x_scale * wi_scale * 2.0**_GATE_FRAC)
        m_h, s_h = quantize_multiplier(h_scale * wh_scale * 2.0**_GATE_FRAC)
        w_ih.append(wi)
        w_hh.append(wh)
        bias.append(b)
        ih_m += [m_i] * len(wi)
        ih_s += [s_i] * len(wi)
        hh_m += [m_h] * len(wh)
        hh_s += [s_h] * len(wh)
    h_m, h_s = quantize_multiplier(2.0**-30 / h_scale)
    return QLstmLayer(
        w_ih=QWeights(values=np.concatenate(w_ih)), w_hh=QWeights(values=np.concatenate(w_hh)),
        bias=np.concatenate(bias).astype(np.int32), ih_multiplier=np.array(ih_m, np.int32),
        ih_shift=np.array(ih_s, np.int8), hh_multiplier=np.array(hh_m, np.int32), hh_shift=np.array(hh_s, np.int8),
        x_zp=int(x_zp), h_zp=int(h_zp), cell_frac=cell_frac, h_multiplier=int(h_m), h_shift=int(h_s),
    )  # fmt: skip


def _int8_input(f: _File) -> AffineQuant:
    """The int8 input's scale and zero point; a float input around an integer network is refused."""
    x_index = f.graph.inputs[0]
    if f.tensor(x_index).type != _INT8:
        raise ImportRefused(f"{f.path.name}: float input around an int8 network; convert with "
                            "inference_input_type=tf.int8 and inference_output_type=tf.int8")  # fmt: skip
    s, z = f.quant(x_index)
    return AffineQuant(scale=float(s[0]), zero_point=int(z[0]))


def _load_int8(f: _File, ops: list[tuple[int, Any]], shape: list[int], sequence: bool) -> ImportedModel:
    if sequence:
        return _load_int8_lstm(f, ops, shape)
    layers: list[QDense] = []
    lines: list[str] = []
    final = None
    input_quant = _int8_input(f)
    cur = (input_quant.scale, input_quant.zero_point)
    for k, op in ops:
        name = f.op_name(op)
        if final is not None:
            raise f.refuse(k, op, f"comes after the final {final}")
        if name == "FULLY_CONNECTED":
            layers.append(_fc_int8(f, k, op, cur))
            o_s, o_z = f.quant(op.outputs[0])
            cur = (float(o_s[0]), int(o_z[0]))
            d = layers[-1]
            lines.append(f"Dense int8 {d.cols} -> {d.rows}, act [{d.act_min}, {d.act_max}] ({f.where(k, op)})")
        elif name == "RESHAPE":
            pass
        elif name in ("SOFTMAX", "LOGISTIC"):
            raise f.refuse(k, op, "an int8 softmax or logistic has no device kernel; convert the model without it "
                                  "(logits out) and apply it on the host")  # fmt: skip
        else:
            raise f.refuse(k, op, "this operator has no int8 device counterpart; mapped are FULLY_CONNECTED "
                                  "(none/RELU/RELU6) and RESHAPE")  # fmt: skip
    if not layers:
        raise ImportRefused(f"{f.path.name}: no FULLY_CONNECTED operator: nothing to run")
    o_s, o_z = f.quant(f.graph.outputs[0])
    model = QMlp(kind="s8", layers=layers, input=input_quant,
                 output=AffineQuant(scale=float(o_s[0]), zero_point=int(o_z[0])))  # fmt: skip
    return ImportedModel(path=f.path, format=FORMAT, model=model, sequence=False, features=int(shape[-1]),
                         steps=None, final_activation=final, layers=tuple(lines))  # fmt: skip


def _load_int8_lstm(f: _File, ops: list[tuple[int, Any]], shape: list[int]) -> ImportedModel:
    input_quant = _int8_input(f)
    cur = (input_quant.scale, input_quant.zero_point)
    layers: list[QLstmLayer] = []
    head: QDense | None = None
    lines: list[str] = []
    for k, op in ops:
        name = f.op_name(op)
        if name == "UNIDIRECTIONAL_SEQUENCE_LSTM" and head is None:
            layers.append(_lstm_int8(f, k, op, cur))
            o_s, o_z = f.quant(op.outputs[0])
            cur = (float(o_s[0]), int(o_z[0]))
            lay = layers[-1]
            lines.append(f"LSTM int8 {lay.w_ih.values.shape[1]} -> {lay.hidden_size}, cell Q{15 - lay.cell_frac}."
                         f"{lay.cell_frac} ({f.where(k, op)})")  # fmt: skip
        elif name == "STRIDED_SLICE" and layers and head is None:
            _last_step(f, k, op, shape[1])
        elif name == "FULLY_CONNECTED" and layers and head is None:
            head = _fc_int8(f, k, op, cur)
            if head.act_min != -128 or head.act_max != 127:
                raise f.refuse(k, op, "a fused activation on the LSTM's head; the device's head is linear")
            lines.append(f"Dense int8 {head.cols} -> {head.rows} ({f.where(k, op)})")
        elif name == "RESHAPE":
            pass
        else:
            raise f.refuse(k, op, "not mapped in an int8 sequence model (UNIDIRECTIONAL_SEQUENCE_LSTM, the "
                                  "STRIDED_SLICE of the last step, one FULLY_CONNECTED head)")  # fmt: skip
    if not layers or head is None:
        raise ImportRefused(f"{f.path.name}: an int8 LSTM model needs LSTM layers and a FULLY_CONNECTED head")
    o_s, o_z = f.quant(f.graph.outputs[0])
    model = QLstm(kind="s8", layers=layers, head=head, input=input_quant,
                  output=AffineQuant(scale=float(o_s[0]), zero_point=int(o_z[0])))  # fmt: skip
    return ImportedModel(path=f.path, format=FORMAT, model=model, sequence=True, features=int(shape[-1]),
                         steps=int(shape[1]), layers=tuple(lines))  # fmt: skip


def reference(path: Path) -> Reference:
    litert = need("ai_edge_litert.interpreter", "ai-edge-litert", "running .tflite files as the reference")
    import ai_edge_litert

    version = getattr(ai_edge_litert, "__version__", "")
    interp = litert.Interpreter(model_path=str(path), num_threads=1)
    interp.allocate_tensors()
    x_d, y_d = interp.get_input_details()[0], interp.get_output_details()[0]

    def run(X: np.ndarray) -> np.ndarray:
        out = []
        for x in np.asarray(X):
            # an LSTM's state is a variable tensor that LiteRT carries from one invoke to the next: each window
            # starts from zero here, as on the device
            interp.reset_all_variables()
            interp.set_tensor(x_d["index"], np.asarray(x, dtype=x_d["dtype"]).reshape(x_d["shape"]))
            interp.invoke()
            out.append(np.array(interp.get_tensor(y_d["index"])).reshape(-1))
        return np.stack(out)

    return Reference(name=f"LiteRT {version}".strip(), run=run)
