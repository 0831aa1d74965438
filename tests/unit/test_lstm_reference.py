"""The numpy LSTM reference: closed-form cases, layout converters, the model blob, batching, and torch if present."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from harness.models import lstm
from harness.models.lstm import BlobError, LstmLayer, LstmModel


@pytest.fixture
def model() -> LstmModel:
    return LstmModel.random(input_size=3, hidden_sizes=[5, 4], output_size=2, seed=7)


def _gate_blocks(arr: np.ndarray) -> dict[str, np.ndarray]:
    # Written out by name rather than with the module's permutation tables, so the tests check those tables.
    return dict(zip("ifgo", np.split(arr, 4, axis=0), strict=True))


# ------------------------------------------------------------------------------------------------ closed form


def _sig(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def test_one_unit_one_step_matches_closed_form() -> None:
    w_ih = np.array([[0.3], [-0.7], [1.1], [0.5]])
    w_hh = np.array([[9.0], [9.0], [9.0], [9.0]])  # h0 = 0, so these must not matter
    b_ih = np.array([0.1, 0.2, -0.3, 0.4])
    b_hh = np.array([-0.05, 0.15, 0.25, -0.35])
    m = LstmModel([LstmLayer(w_ih, w_hh, b_ih, b_hh)], dense_w=np.array([[1.5]]), dense_b=np.array([-0.25]))
    x = 0.8
    pre = [w_ih[k, 0] * x + b_ih[k] + b_hh[k] for k in range(4)]
    c = _sig(pre[1]) * 0.0 + _sig(pre[0]) * math.tanh(pre[2])
    h = _sig(pre[3]) * math.tanh(c)
    expected = 1.5 * h - 0.25
    y = lstm.forward(m, np.array([[x]]), dtype=np.float64)
    assert y.shape == (1,)
    assert y[0] == pytest.approx(expected, rel=1e-14)


def test_one_unit_two_steps_uses_recurrent_weights() -> None:
    w_ih = np.array([[0.3], [-0.7], [1.1], [0.5]])
    w_hh = np.array([[0.9], [-0.4], [0.6], [0.2]])
    b = np.array([0.1, 0.2, -0.3, 0.4])
    m = LstmModel([LstmLayer(w_ih, w_hh, b, np.zeros(4))], dense_w=np.array([[2.0]]), dense_b=np.array([0.0]))
    xs = [0.8, -1.2]
    h = c = 0.0
    hs = []
    for x in xs:
        pre = [w_ih[k, 0] * x + w_hh[k, 0] * h + b[k] for k in range(4)]
        c = _sig(pre[1]) * c + _sig(pre[0]) * math.tanh(pre[2])
        h = _sig(pre[3]) * math.tanh(c)
        hs.append(2.0 * h)
    y = lstm.forward(m, np.array(xs)[:, None], dtype=np.float64, all_steps=True)
    np.testing.assert_allclose(y[:, 0], hs, rtol=1e-14)


# ------------------------------------------------------------------------------------------------ converters


def test_torch_keras_torch_round_trip_is_bit_identical(model: LstmModel) -> None:
    for layer in model.layers:
        kernel, recurrent, bias = lstm.to_keras(layer)
        assert kernel.shape == (layer.input_size, 4 * layer.hidden_size)
        assert recurrent.shape == (layer.hidden_size, 4 * layer.hidden_size)
        back = lstm.from_keras(kernel, recurrent, bias)
        assert np.array_equal(back.w_ih, layer.w_ih)
        assert np.array_equal(back.w_hh, layer.w_hh)
        # Keras keeps one bias, so only the sum survives; it is the sum the device gets too.
        assert np.array_equal(back.b_ih + back.b_hh, layer.b_ih + layer.b_hh)
        again = lstm.to_keras(back)
        for a, b in zip(again, (kernel, recurrent, bias), strict=True):
            assert a.dtype == b.dtype
            assert np.array_equal(a, b)


def test_torch_onnx_torch_round_trip_is_bit_identical(model: LstmModel) -> None:
    for layer in model.layers:
        w, r, b = lstm.to_onnx(layer)
        assert w.shape == (1, 4 * layer.hidden_size, layer.input_size)
        assert r.shape == (1, 4 * layer.hidden_size, layer.hidden_size)
        assert b.shape == (1, 8 * layer.hidden_size)
        back = lstm.from_onnx(w, r, b)
        for name in ("w_ih", "w_hh", "b_ih", "b_hh"):
            assert np.array_equal(getattr(back, name), getattr(layer, name)), name
        for a, b2 in zip(lstm.to_onnx(back), (w, r, b), strict=True):
            assert np.array_equal(a, b2)


def test_keras_ordered_model_gives_the_same_outputs(model: LstmModel) -> None:
    layers = []
    for layer in model.layers:
        wi, wh = _gate_blocks(layer.w_ih), _gate_blocks(layer.w_hh)
        bias = _gate_blocks(layer.b_ih.astype(np.float64) + layer.b_hh)  # float64: the sum forward() forms
        keras_order = ("i", "f", "g", "o")  # Keras calls g "c"
        kernel = np.concatenate([wi[g] for g in keras_order], axis=0).T
        recurrent = np.concatenate([wh[g] for g in keras_order], axis=0).T
        layers.append(lstm.from_keras(kernel, recurrent, np.concatenate([bias[g] for g in keras_order])))
    converted = LstmModel(layers, model.dense_w, model.dense_b)
    x = np.random.default_rng(1).normal(size=(6, model.input_size))
    # Same numbers at the same places and (b_ih + b_hh) + 0 == b_ih + b_hh: the same arithmetic, the same result.
    np.testing.assert_array_equal(
        lstm.forward(converted, x, dtype=np.float64, all_steps=True),
        lstm.forward(model, x, dtype=np.float64, all_steps=True),
    )


def test_onnx_ordered_model_gives_the_same_outputs_and_order_matters(model: LstmModel) -> None:
    onnx_order = ("i", "o", "f", "g")  # ONNX calls g "c"
    layers, misread = [], []
    for layer in model.layers:
        wi, wh = _gate_blocks(layer.w_ih), _gate_blocks(layer.w_hh)
        bi, bh = _gate_blocks(layer.b_ih), _gate_blocks(layer.b_hh)
        w = np.concatenate([wi[g] for g in onnx_order])[None]
        r = np.concatenate([wh[g] for g in onnx_order])[None]
        b = np.concatenate([bi[g] for g in onnx_order] + [bh[g] for g in onnx_order])[None]
        layers.append(lstm.from_onnx(w, r, b))
        h4 = 4 * layer.hidden_size
        misread.append(LstmLayer(w[0], r[0], b[0, :h4], b[0, h4:]))  # ONNX arrays taken as PyTorch order
    x = np.random.default_rng(2).normal(size=(6, model.input_size))
    expected = lstm.forward(model, x, dtype=np.float64, all_steps=True)
    # Identical weights in identical places: the arithmetic is the same, so the result is too.
    np.testing.assert_array_equal(
        lstm.forward(LstmModel(layers, model.dense_w, model.dense_b), x, dtype=np.float64, all_steps=True), expected
    )
    wrong = lstm.forward(LstmModel(misread, model.dense_w, model.dense_b), x, dtype=np.float64, all_steps=True)
    assert np.max(np.abs(wrong - expected)) > 1e-3, "a gate-order mix-up must be visible in the outputs"


def test_onnx_rejects_bidirectional_weights(model: LstmModel) -> None:
    w, r, b = lstm.to_onnx(model.layers[0])
    with pytest.raises(ValueError, match="direction='forward'"):
        lstm.from_onnx(np.concatenate([w, w]), np.concatenate([r, r]), np.concatenate([b, b]))


def test_torch_state_dict_round_trip_with_prefix(model: LstmModel) -> None:
    sd = lstm.to_torch_state_dict(model, prefix="lstm.")
    assert set(sd) == {f"lstm.{n}_l{k}" for k in range(2) for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    back = lstm.from_torch_state_dict(
        sd, num_layers=2, prefix="lstm.", dense_weight=model.dense_w, dense_bias=model.dense_b
    )
    for a, b in zip(back.layers, model.layers, strict=True):
        for name in ("w_ih", "w_hh", "b_ih", "b_hh"):
            assert np.array_equal(getattr(a, name), getattr(b, name))
    with pytest.raises(KeyError, match="num_layers=3"):
        lstm.from_torch_state_dict(sd, 3, "lstm.", dense_weight=model.dense_w, dense_bias=model.dense_b)
    sd["lstm.weight_ih_l0_reverse"] = sd["lstm.weight_ih_l0"]
    with pytest.raises(ValueError, match="bidirectional"):
        lstm.from_torch_state_dict(sd, 2, "lstm.", dense_weight=model.dense_w, dense_bias=model.dense_b)


# ------------------------------------------------------------------------------------------------ model basics


def test_random_follows_pytorch_init_and_counts_params() -> None:
    m = LstmModel.random(input_size=7, hidden_sizes=[16, 4], output_size=3, seed=0)
    assert (m.input_size, m.hidden_sizes, m.output_size) == (7, (16, 4), 3)
    assert np.abs(m.layers[0].w_ih).max() <= 1 / math.sqrt(16)
    assert np.abs(m.layers[1].w_hh).max() <= 1 / math.sqrt(4)
    assert np.abs(m.dense_w).max() <= 1 / math.sqrt(4)
    # What sum(p.numel() for p in LSTM(7, 16) + LSTM(16, 4) + Linear(4, 3)) reports.
    assert m.n_params == 4 * 16 * (7 + 16 + 2) + 4 * 4 * (16 + 4 + 2) + 3 * (4 + 1)
    same = LstmModel.random(7, [16, 4], 3, seed=0)
    assert np.array_equal(same.layers[1].w_ih, m.layers[1].w_ih)
    assert np.abs(LstmModel.random(7, [16], 3, seed=0, scale=0.01).layers[0].w_ih).max() <= 0.01


def test_shape_errors_say_what_is_expected(model: LstmModel) -> None:
    with pytest.raises(ValueError, match=r"expected \[T, 3\]"):
        lstm.forward(model, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="previous layer's hidden_size"):
        LstmModel([model.layers[1], model.layers[0]], model.dense_w, model.dense_b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("all_steps", [False, True])
def test_batched_equals_unbatched(model: LstmModel, dtype: type, all_steps: bool) -> None:
    xs = np.random.default_rng(3).normal(size=(4, 9, model.input_size))
    batched = lstm.forward(model, xs, dtype=dtype, all_steps=all_steps)
    assert batched.dtype == dtype
    assert batched.shape == ((4, 9, 2) if all_steps else (4, 2))
    single = np.stack([lstm.forward(model, x, dtype=dtype, all_steps=all_steps) for x in xs])
    # A batch of rows may take a different BLAS kernel than one row, which reorders the sums: a few ulps.
    rtol = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(batched, single, rtol=rtol, atol=rtol)


def test_all_steps_ends_with_the_last_step_output(model: LstmModel) -> None:
    x = np.random.default_rng(4).normal(size=(5, model.input_size))
    every = lstm.forward(model, x, all_steps=True)
    assert every.shape == (5, 2)
    np.testing.assert_array_equal(every[-1], lstm.forward(model, x))


def test_float32_stays_close_to_float64(model: LstmModel) -> None:
    x = np.random.default_rng(5).normal(size=(50, model.input_size))
    y32 = lstm.forward(model, x, dtype=np.float32, all_steps=True)
    y64 = lstm.forward(model, x, dtype=np.float64, all_steps=True)
    # Bounded activations keep float32 rounding from growing over 50 steps beyond ~1e-6.
    np.testing.assert_allclose(y32, y64, atol=1e-5)


# ------------------------------------------------------------------------------------------------ blob


def test_blob_layout_and_round_trip(model: LstmModel) -> None:
    blob = lstm.to_blob(model)
    assert len(blob) == lstm.blob_size(3, [5, 4], 2) == 24 + 4 * (4 * 5 * 9 + 4 * 4 * 10 + 2 * 5)
    assert blob[:4] == b"HILM"
    assert struct.unpack_from("<HBBHH4HI", blob, 4) == (1, 1, 2, 3, 2, 5, 4, 0, 0, 0)
    first_w_ih = np.frombuffer(blob, "<f4", count=5 * 4 * 3, offset=24).reshape(20, 3)
    assert np.array_equal(first_w_ih, model.layers[0].w_ih)

    back = lstm.from_blob(blob)
    assert back.hidden_sizes == model.hidden_sizes
    for a, b in zip(back.layers, model.layers, strict=True):
        assert a.w_ih.dtype == np.float32
        assert np.array_equal(a.w_ih, b.w_ih)
        assert np.array_equal(a.w_hh, b.w_hh)
        assert np.array_equal(a.b_ih, b.b_ih.astype(np.float32) + b.b_hh.astype(np.float32))
        assert not a.b_hh.any()
    assert lstm.to_blob(back) == blob
    x = np.random.default_rng(6).normal(size=(7, 3))
    np.testing.assert_array_equal(lstm.forward(back, x), lstm.forward(model, x))


def _patched(blob: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(blob)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b[:10], "shorter than"),
        (lambda b: _patched(b, 0, "<I", 0x12345678), "bad magic"),
        (lambda b: _patched(b, 4, "<H", 2), "format version"),
        (lambda b: _patched(b, 6, "<B", 9), "kind"),
        (lambda b: _patched(b, 7, "<B", 0), "n_layers is 0"),
        (lambda b: _patched(b, 7, "<B", 5), "n_layers is 5"),
        (lambda b: _patched(b, 8, "<H", 0), "zero size"),
        (lambda b: _patched(b, 10, "<H", 0), "zero size"),
        (lambda b: _patched(b, 14, "<H", 0), "zero size"),
        (lambda b: _patched(b, 16, "<H", 3), "unused header fields"),
        (lambda b: _patched(b, 20, "<I", 1), "unused header fields"),
        (lambda b: b[:-4], "truncated or padded"),
        (lambda b: b + b"\0\0\0\0", "truncated or padded"),
    ],
    ids=[
        "short",
        "magic",
        "version",
        "kind",
        "layers0",
        "layers5",
        "input0",
        "output0",
        "hidden0",
        "unused_hidden",
        "reserved",
        "truncated",
        "padded",
    ],
)
def test_from_blob_refuses(model: LstmModel, mutate, message: str) -> None:
    with pytest.raises(BlobError, match=message):
        lstm.from_blob(mutate(lstm.to_blob(model)))


def test_to_blob_refuses_what_the_device_cannot_hold() -> None:
    deep = LstmModel.random(2, [2] * 5, 1, seed=0)
    with pytest.raises(BlobError, match=r"1\.\.4 layers"):
        lstm.to_blob(deep)
    wide = LstmModel.random(70_000, [1], 1, seed=0)
    with pytest.raises(BlobError, match="16-bit"):
        lstm.to_blob(wide)


# ------------------------------------------------------------------------------------------------ torch


@pytest.mark.parametrize("all_steps", [False, True])
def test_matches_torch(all_steps: bool) -> None:
    torch = pytest.importorskip("torch")
    # A torch.nn.LSTM stack has one width for every layer.
    m = LstmModel.random(input_size=3, hidden_sizes=[5, 5], output_size=2, seed=11)
    net = torch.nn.LSTM(3, 5, num_layers=2, batch_first=True).double()
    net.load_state_dict({k: torch.from_numpy(v.astype(np.float64)) for k, v in lstm.to_torch_state_dict(m).items()})
    head = torch.nn.Linear(5, 2).double()
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(m.dense_w.astype(np.float64)))
        head.bias.copy_(torch.from_numpy(m.dense_b.astype(np.float64)))
    x = np.random.default_rng(8).normal(size=(3, 12, 3))
    with torch.no_grad():
        seq, _ = net(torch.from_numpy(x))
        y = head(seq if all_steps else seq[:, -1]).numpy()
    # Both float64 with the same formula; only the summation order differs.
    np.testing.assert_allclose(lstm.forward(m, x, dtype=np.float64, all_steps=all_steps), y, rtol=1e-10, atol=1e-12)
    back = lstm.from_torch_state_dict(net.state_dict(), 2, dense_weight=head.weight, dense_bias=head.bias)
    np.testing.assert_array_equal(back.layers[1].w_hh, m.layers[1].w_hh.astype(np.float64))
