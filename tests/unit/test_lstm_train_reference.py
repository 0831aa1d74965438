"""The numpy training reference: BPTT gradients against finite differences, the flat layout, clipping, optimizers."""

from __future__ import annotations

import numpy as np
import pytest

from harness.models import lstm
from harness.models import lstm_train as lt
from harness.models.lstm import HIL_MODEL_HEADER_SIZE, LstmModel

# Central differences in float64: the truncation error is h^2/6 * |L'''| ~ 2e-13 and the rounding error is about
# eps * |L| / h ~ 2e-16 * 3 / 1e-6 ~ 6e-10, so h = 1e-6 balances the two near their minimum. Measured worst case
# over every case below: 5.6e-10. ATOL 1e-8 is ~18x that, and still 1000x smaller than the gradients it checks
# (typically 1e-3..1), so a wrong term in the backward pass (a missing factor, a gate swapped, an off-by-one step)
# cannot hide under it; test_fd_check_is_sharp proves the check rejects a 1% error in one entry.
FD_STEP = 1e-6
FD_ATOL = 1e-8
FD_RTOL = 1e-6
FD_MAX_ENTRIES = 300  # models up to this many parameters are checked in full, larger ones on a random subset
FD_SUBSET = 200


def _batch(model: LstmModel, n_batch: int, steps: int, loss: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_batch, steps, model.input_size))
    if loss == "mse":
        target = rng.normal(size=(n_batch, model.output_size))
    else:
        target = rng.integers(0, model.output_size, size=n_batch)
    return X, target


def _fd_grad(model: LstmModel, X, target, loss: str, entries: np.ndarray) -> np.ndarray:
    flat = lt.flatten(model).astype(np.float64)
    fd = np.empty(entries.size)
    for n, k in enumerate(entries):
        plus, minus = flat.copy(), flat.copy()
        plus[k] += FD_STEP
        minus[k] -= FD_STEP
        l_plus = lt.batch_loss(lt.unflatten(model, plus), X, target, loss=loss)
        l_minus = lt.batch_loss(lt.unflatten(model, minus), X, target, loss=loss)
        fd[n] = (l_plus - l_minus) / (2 * FD_STEP)
    return fd


def _entries(n_params: int, seed: int) -> np.ndarray:
    if n_params <= FD_MAX_ENTRIES:
        return np.arange(n_params)
    return np.sort(np.random.default_rng(seed).choice(n_params, size=FD_SUBSET, replace=False))


def _check_against_fd(model: LstmModel, n_batch: int, steps: int, loss: str, seed: int) -> float:
    X, target = _batch(model, n_batch, steps, loss, seed)
    value, grad = lt.loss_and_grad(model, X, target, loss=loss, dtype=np.float64)
    assert grad.dtype == np.float64 and grad.shape == (lt.flat_size(model),)
    assert value == pytest.approx(lt.batch_loss(model, X, target, loss=loss), rel=1e-15)
    entries = _entries(grad.size, seed)
    fd = _fd_grad(model, X, target, loss, entries)
    np.testing.assert_allclose(grad[entries], fd, rtol=FD_RTOL, atol=FD_ATOL)
    assert np.abs(fd).max() > 100 * FD_ATOL, "gradients this small would make the comparison vacuous"
    return float(np.abs(grad[entries] - fd).max())


def _output_size(loss: str) -> int:
    return 2 if loss == "mse" else 3


@pytest.mark.parametrize("loss", ["mse", "ce"])
@pytest.mark.parametrize("n_batch", [1, 3])
@pytest.mark.parametrize("steps", [1, 5])
@pytest.mark.parametrize("input_size", [1, 3])
@pytest.mark.parametrize("hidden_sizes", [[4], [3, 5]], ids=["1-layer", "2-layers"])
def test_gradient_matches_finite_differences(
    record_property, hidden_sizes: list[int], input_size: int, steps: int, n_batch: int, loss: str
) -> None:
    seed = 100 * len(hidden_sizes) + 10 * input_size + steps + n_batch
    model = LstmModel.random(input_size, hidden_sizes, _output_size(loss), seed=seed)
    record_property("max_abs_err", _check_against_fd(model, n_batch, steps, loss, seed))


@pytest.mark.parametrize("hidden", range(1, 9))
def test_gradient_matches_finite_differences_every_width(record_property, hidden: int) -> None:
    # Widths 1..8, each as the lower of two layers so both a layer's input and its recurrent path are exercised;
    # the larger ones (over FD_MAX_ENTRIES parameters) go through the random-subset path.
    loss = "mse" if hidden % 2 else "ce"
    model = LstmModel.random(3, [hidden, 8 - hidden // 2], _output_size(loss), seed=hidden)
    record_property("max_abs_err", _check_against_fd(model, 3, 5, loss, seed=hidden))


def test_fd_check_is_sharp() -> None:
    # The FD comparison must be able to fail: a 1% error in one entry of a correct gradient is rejected.
    model = LstmModel.random(3, [3, 5], 2, seed=3)
    X, target = _batch(model, 3, 5, "mse", seed=3)
    _, grad = lt.loss_and_grad(model, X, target, loss="mse")
    entries = np.arange(grad.size)
    fd = _fd_grad(model, X, target, "mse", entries)
    np.testing.assert_allclose(grad, fd, rtol=FD_RTOL, atol=FD_ATOL)
    k = int(np.argmax(np.abs(grad) < 0.1 * np.abs(grad).max()))  # not the largest entry: a typical one
    wrong = grad.copy()
    wrong[k] *= 1.01
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(wrong, fd, rtol=FD_RTOL, atol=FD_ATOL)


def test_loss_is_the_forward_reference_loss() -> None:
    # The training forward is a second implementation of lstm.forward: their outputs must give the same loss.
    # unflatten(flatten(m)) puts the combined bias in b_ih, so both sides add the very same bias.
    base = LstmModel.random(3, [5, 4], 2, seed=8)
    model = lt.unflatten(base, lt.flatten(base))
    X, target = _batch(model, 3, 7, "mse", seed=8)
    y = lstm.forward(model, X, dtype=np.float64)
    # Same float64 arithmetic up to the summation order of numpy's matmuls: a few ulps of a loss of ~1.
    assert lt.batch_loss(model, X, target, loss="mse") == pytest.approx(np.mean((y - target) ** 2), rel=1e-13)
    classes = np.array([1, 0, 1])
    log_softmax = y - y.max(axis=1, keepdims=True)
    log_softmax -= np.log(np.exp(log_softmax).sum(axis=1, keepdims=True))
    expected_ce = -np.mean(log_softmax[np.arange(3), classes])
    assert lt.batch_loss(model, X, classes, loss="ce") == pytest.approx(expected_ce, rel=1e-13)


def test_float32_is_float32_end_to_end() -> None:
    model = LstmModel.random(3, [8, 4], 2, seed=4)
    X, target = _batch(model, 3, 6, "mse", seed=4)
    loss32, grad32 = lt.loss_and_grad(model, X, target, loss="mse", dtype=np.float32)
    loss64, grad64 = lt.loss_and_grad(model, X, target, loss="mse", dtype=np.float64)
    assert grad32.dtype == np.float32
    # A float32 computation differs from float64 by float32 rounding (eps 6e-8) amplified by a few hundred
    # dependent operations; a float64 intermediate that leaked in would make them agree to ~1e-12 instead,
    # so the check is two-sided: close, but not too close.
    err = np.abs(grad32 - grad64).max() / np.abs(grad64).max()
    assert 1e-9 < err < 1e-5
    assert 1e-10 < abs(loss32 - loss64) / loss64 < 1e-5


def test_cross_entropy_is_stable_for_huge_logits() -> None:
    model = LstmModel.random(2, [4], 3, seed=5)
    model.dense_w = model.dense_w * np.float32(1e4)  # logits ~1e4: exp would overflow without the max shift
    X, _ = _batch(model, 2, 3, "ce", seed=5)
    for dtype in (np.float32, np.float64):
        value, grad = lt.loss_and_grad(model, X, np.array([0, 2]), loss="ce", dtype=dtype)
        assert np.isfinite(value) and np.isfinite(grad).all()


# ------------------------------------------------------------------------------------------------ flat layout


def test_flatten_layout_and_roundtrip() -> None:
    model = LstmModel.random(3, [5, 4], 2, seed=1)
    flat = lt.flatten(model)
    assert flat.dtype == np.float32 and flat.size == lt.flat_size(model)
    expected = []
    for layer in model.layers:
        expected += [layer.w_ih.ravel(), layer.w_hh.ravel(), layer.b_ih + layer.b_hh]
    expected += [model.dense_w.ravel(), model.dense_b]
    np.testing.assert_array_equal(flat, np.concatenate(expected))
    rng = np.random.default_rng(1)
    for dtype in (np.float32, np.float64):
        x = rng.normal(size=flat.size).astype(dtype)
        again = lt.flatten(lt.unflatten(model, x))
        assert again.dtype == dtype
        np.testing.assert_array_equal(again, x)
    back = lt.unflatten(model, flat)
    assert all(not layer.b_hh.any() for layer in back.layers)


def test_blob_payload_is_the_flat_vector() -> None:
    for hidden in ([5], [5, 4], [8, 16, 8, 4]):
        model = LstmModel.random(3, hidden, 2, seed=len(hidden))
        assert lstm.to_blob(model)[HIL_MODEL_HEADER_SIZE:] == lt.flatten(model).astype("<f4").tobytes()


def test_unflatten_refuses_wrong_length() -> None:
    model = LstmModel.random(3, [5], 2, seed=1)
    with pytest.raises(ValueError, match="flatten"):
        lt.unflatten(model, np.zeros(lt.flat_size(model) - 1))
    with pytest.raises(TypeError):
        lt.unflatten(model, np.zeros(lt.flat_size(model), np.int32))


def test_bad_batches_are_refused() -> None:
    model = LstmModel.random(3, [5], 3, seed=1)
    X = np.zeros((2, 4, 3))
    with pytest.raises(ValueError, match=r"\[B, T, 3\]"):
        lt.loss_and_grad(model, np.zeros((4, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"\[B, O\]"):
        lt.loss_and_grad(model, X, np.zeros(2))
    with pytest.raises(ValueError, match="class indices"):
        lt.loss_and_grad(model, X, np.array([0, 3]), loss="ce")
    with pytest.raises(ValueError, match="class indices"):
        lt.loss_and_grad(model, X, np.array([0.5, 1.0]), loss="ce")
    with pytest.raises(ValueError, match="'mse'"):
        lt.loss_and_grad(model, X, np.zeros((2, 3)), loss="mae")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------ clipping


def test_clip_grad_norm() -> None:
    g = np.array([3.0, 4.0])
    clipped, norm = lt.clip_grad_norm(g, 1.0)
    assert norm == 5.0
    np.testing.assert_allclose(clipped, [3 / (5 + 1e-6), 4 / (5 + 1e-6)], rtol=1e-15)  # PyTorch's + 1e-6
    assert g.tolist() == [3.0, 4.0], "clip_grad_norm must not modify its argument"
    for max_norm in (5.0, 10.0, 0.0, -1.0):  # at the norm, above it, and off
        clipped, norm = lt.clip_grad_norm(g, max_norm)
        assert norm == 5.0 and clipped.tolist() == [3.0, 4.0]
    g32 = np.array([30.0, 40.0], np.float32)
    clipped, norm = lt.clip_grad_norm(g32, 2.0)
    assert clipped.dtype == np.float32 and norm == 50.0
    # float32: the scale max_norm / (norm + 1e-6) and the product are each rounded once, half an ulp each.
    np.testing.assert_allclose(clipped, [1.2, 1.6], rtol=2e-7)


# ------------------------------------------------------------------------------------------------ optimizers


def test_sgd_plain_by_hand() -> None:
    opt = lt.Sgd(lr=0.1)
    p = np.array([1.0, 2.0])
    new = opt.step(p, np.array([0.5, -1.0]))
    assert new.tolist() == pytest.approx([0.95, 2.1], abs=1e-15)
    assert p.tolist() == [1.0, 2.0], "step must not modify params in place"
    assert opt.momentum_buffer is None


def test_sgd_momentum_by_hand() -> None:
    opt = lt.Sgd(lr=0.1, momentum=0.9)
    g1, g2 = np.array([0.5, -1.0]), np.array([1.0, 2.0])
    p1 = opt.step(np.array([1.0, 2.0]), g1)
    assert p1.tolist() == pytest.approx([0.95, 2.1], abs=1e-15)  # first step: buf = g
    p2 = opt.step(p1, g2)
    # buf = 0.9 * [0.5, -1] + [1, 2] = [1.45, 1.1]; p -= 0.1 * buf
    assert opt.momentum_buffer.tolist() == pytest.approx([1.45, 1.1], abs=1e-15)
    assert p2.tolist() == pytest.approx([0.95 - 0.145, 2.1 - 0.11], abs=1e-15)


def test_adam_by_hand() -> None:
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    opt = lt.Adam(lr=lr, beta1=b1, beta2=b2, eps=eps)
    p0 = np.array([1.0, -2.0, 0.5])
    g1, g2 = np.array([0.2, -3.0, 0.0]), np.array([-0.1, 1.0, 4.0])
    p1 = opt.step(p0, g1)
    # Step 1: m_hat = g and v_hat = g^2, so each parameter moves lr * g / (|g| + eps): lr against its sign.
    np.testing.assert_allclose(p1, [1.0 - 0.01 * 0.2 / (0.2 + eps), -2.0 + 0.01 * 3 / (3 + eps), 0.5], rtol=1e-14)
    p2 = opt.step(p1, g2)
    # Step 2 in the textbook arrangement (Kingma & Ba), not the one the code uses: they must agree.
    m = (1 - b1) * (b1 * g1 + g2)
    v = (1 - b2) * (b2 * g1**2 + g2**2)
    m_hat, v_hat = m / (1 - b1**2), v / (1 - b2**2)
    np.testing.assert_allclose(p2, p1 - lr * m_hat / (np.sqrt(v_hat) + eps), rtol=1e-13)
    np.testing.assert_allclose(opt.m, m, rtol=1e-14)
    np.testing.assert_allclose(opt.v, v, rtol=1e-14)
    assert opt.t == 2
    assert p0.tolist() == [1.0, -2.0, 0.5]


def test_optimizers_keep_float32() -> None:
    p = np.ones(4, np.float32)
    g = np.full(4, 0.5, np.float32)
    for opt in (lt.Sgd(lr=0.1, momentum=0.9), lt.Adam(lr=0.1)):
        new = opt.step(p, g.astype(np.float64))  # the params' dtype wins, as on the device
        assert new.dtype == np.float32
    assert opt.m.dtype == np.float32 and opt.v.dtype == np.float32


@pytest.mark.parametrize("make", [lambda: lt.Sgd(lr=0.1, momentum=0.9), lambda: lt.Adam(lr=0.1)], ids=["sgd", "adam"])
def test_optimizer_refuses_non_finite_update_and_keeps_state(make) -> None:
    opt = make()
    p = np.array([1.0, 2.0, 3.0], np.float32)
    p = opt.step(p, np.array([0.5, -1.0, 2.0], np.float32))  # a normal first step creates the state
    state = {name: getattr(opt, name).copy() for name in ("momentum_buffer", "m", "v") if hasattr(opt, name)}
    steps_before = getattr(opt, "t", None)
    opt.lr = 3e38  # an absurd rate: lr * buf (SGD) and lr / (1 - beta1^t) (Adam) overflow float32
    with pytest.raises(lt.NonFiniteUpdateError, match="learning rate"):
        opt.step(p, np.array([0.0, 0.0, 10.0], np.float32))
    for name, before in state.items():
        np.testing.assert_array_equal(getattr(opt, name), before)
    assert getattr(opt, "t", None) == steps_before


def test_optimizer_hyper_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="learning rate"):
        lt.Sgd(lr=-1.0)
    with pytest.raises(ValueError, match="momentum"):
        lt.Sgd(lr=0.1, momentum=float("nan"))
    with pytest.raises(ValueError, match="beta"):
        lt.Adam(lr=0.1, beta2=1.0)
    with pytest.raises(ValueError, match="shape"):
        lt.Sgd(lr=0.1).step(np.zeros(3), np.zeros(4))


# ------------------------------------------------------------------------------------------------ train_step


def test_train_step_is_loss_clip_optimizer() -> None:
    model = LstmModel.random(3, [5], 2, seed=2)
    X, target = _batch(model, 3, 4, "mse", seed=2)
    loss32, grad = lt.loss_and_grad(model, X, target, loss="mse", dtype=np.float32)
    clipped, norm = lt.clip_grad_norm(grad, 0.05)
    assert norm > 0.05, "the test must exercise clipping"
    result = lt.train_step(model, X, target, loss="mse", optimizer=lt.Sgd(lr=0.5), clip=0.05)
    assert result.loss == loss32 and result.grad_norm == norm
    assert result.params.dtype == np.float32
    np.testing.assert_array_equal(result.params, lt.flatten(model) - np.float32(0.5) * clipped)
    # The same step from the flat vector.
    again = lt.train_step(lt.flatten(model), X, target, loss="mse", optimizer=lt.Sgd(lr=0.5), clip=0.05, like=model)
    np.testing.assert_array_equal(again.params, result.params)
    with pytest.raises(TypeError, match="like="):
        lt.train_step(lt.flatten(model), X, target, optimizer=lt.Sgd(lr=0.5))


def test_train_step_reduces_the_loss() -> None:
    # A fixed batch and Adam: the reference must be able to fit it, or the device's curve would mean nothing.
    model = LstmModel.random(1, [8], 1, seed=6)
    t = np.linspace(0, 4 * np.pi, 40)
    X = np.stack([np.sin(t[k : k + 12]) for k in range(0, 24, 3)])[:, :, None]
    target = np.array([[np.sin(t[k + 12])] for k in range(0, 24, 3)])
    flat, opt, losses = lt.flatten(model), lt.Adam(lr=0.02), []
    for _ in range(60):
        result = lt.train_step(flat, X, target, loss="mse", optimizer=opt, clip=1.0, like=model)
        flat = result.params
        losses.append(result.loss)
    assert losses[-1] < 0.1 * losses[0]


# ------------------------------------------------------------------------------------------------ torch


@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_matches_torch_autograd(loss: str) -> None:
    torch = pytest.importorskip("torch")
    model = LstmModel.random(3, [5, 4], 3, seed=11)
    X, target = _batch(model, 3, 6, loss, seed=11)
    value, grad = lt.loss_and_grad(model, X, target, loss=loss, dtype=np.float64)

    flat_model = lt.unflatten(model, lt.flatten(model).astype(np.float64))  # combined bias in b_ih, b_hh = 0
    lstms = []
    for layer in flat_model.layers:
        m = torch.nn.LSTM(layer.input_size, layer.hidden_size, batch_first=True).double()
        with torch.no_grad():
            m.weight_ih_l0.copy_(torch.from_numpy(layer.w_ih))
            m.weight_hh_l0.copy_(torch.from_numpy(layer.w_hh))
            m.bias_ih_l0.copy_(torch.from_numpy(layer.b_ih))
            m.bias_hh_l0.zero_()
        lstms.append(m)
    head = torch.nn.Linear(model.layers[-1].hidden_size, model.output_size).double()
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(flat_model.dense_w))
        head.bias.copy_(torch.from_numpy(flat_model.dense_b))
    seq = torch.from_numpy(X)
    for m in lstms:
        seq, _ = m(seq)
    y = head(seq[:, -1, :])
    if loss == "mse":
        torch_loss = torch.nn.MSELoss()(y, torch.from_numpy(target))
    else:
        torch_loss = torch.nn.CrossEntropyLoss()(y, torch.from_numpy(target).long())
    torch_loss.backward()
    torch_grad = []
    for m in lstms:
        # bias_ih and bias_hh enter the gates as a sum, so each one's gradient is the combined bias's gradient.
        torch_grad += [m.weight_ih_l0.grad, m.weight_hh_l0.grad, m.bias_ih_l0.grad]
    torch_grad += [head.weight.grad, head.bias.grad]
    expected = np.concatenate([g.detach().numpy().ravel() for g in torch_grad])
    # Both float64, same math, different summation orders: agreement to ~1e-15 relative; 1e-10 leaves room.
    assert value == pytest.approx(float(torch_loss), rel=1e-10)
    np.testing.assert_allclose(grad, expected, rtol=1e-10, atol=1e-12)
