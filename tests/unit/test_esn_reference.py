"""The numpy ESN reference: PRNG, draw order, spectral radius, update, ridge solve, anomaly threshold, metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.models import esn
from harness.models.esn import (
    DetectionReport,
    Esn,
    EsnAutoencoder,
    EsnConfig,
    EsnConfigError,
    NonFiniteError,
    NormalEquations,
    NotPositiveDefiniteError,
    Pcg32,
)

U = 2.0**-24  # float32 unit roundoff

# ---------------------------------------------------------------------------------------------------------- PRNG


def test_pcg32_matches_published_outputs() -> None:
    # pcg32-demo from the PCG reference code seeds with initstate 42, initseq 54 (increment 2*54+1) and prints these
    # six outputs first; our seeding is the same procedure, so the algorithm itself is checked, not just ourselves.
    rng = Pcg32(42, increment=2 * 54 + 1)
    assert [rng.next_u32() for _ in range(6)] == [
        0xA15C02B7,
        0x7B47F409,
        0xBA1D3330,
        0x83D2F293,
        0xBFA4784B,
        0xCBED606E,
    ]


def test_every_seed_is_its_own_stream() -> None:
    streams = {seed: tuple(Pcg32(seed).u32(8).tolist()) for seed in (0, 1, 2, 0xFFFFFFFF)}
    assert len(set(streams.values())) == 4
    assert len(set(streams[0])) == 8, "seed 0 must not be a degenerate (constant) stream"
    for bad in (-1, 1 << 32):
        with pytest.raises(ValueError, match="uint32 seed"):
            Pcg32(bad)


def test_uniform_mapping_is_exact_on_its_grid() -> None:
    edges = np.array([0, 0xFF, 0x80000000, 0x800000FF, 0xFFFFFFFF], np.uint32)
    got = esn.uniform_from_u32(edges)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, np.array([-1.0, -1.0, 0.0, 0.0, 1.0 - 2.0**-23], np.float32))
    values = Pcg32(5).uniform(10_000).astype(np.float64)
    assert values.min() >= -1.0
    assert values.max() < 1.0
    np.testing.assert_array_equal(values * 2**23, np.round(values * 2**23))  # on the 2**-23 grid
    # Mean of 10,000 uniforms on [-1, 1): std 0.577/sqrt(1e4) = 0.0058; 4 sigma = 0.023 (fixed seed, no flakiness).
    assert abs(values.mean()) < 0.023


# ---------------------------------------------------------------------------------------------------- draw order


def _draw_by_hand(cfg: EsnConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    # The documented order, written out one scalar at a time, independently of draw_reservoir's vectorisation.
    rng = Pcg32(cfg.seed)

    def uniform() -> np.float32:
        return esn.uniform_from_u32(rng.next_u32())[()]

    n, k, o = cfg.n_reservoir, cfg.n_inputs, cfg.n_outputs
    w_in = np.array([[np.float32(cfg.input_scale) * uniform() for _ in range(k + 1)] for _ in range(n)])
    w_res = np.zeros((n, n), np.float32)
    threshold = int(cfg.density * 2**24)
    for i in range(n):
        for j in range(n):
            keep = (rng.next_u32() >> 8) < threshold
            value = uniform()
            w_res[i, j] = value if keep else 0.0
    w_back = None
    if cfg.feedback:
        w_back = np.array([[np.float32(cfg.feedback_scale) * uniform() for _ in range(o)] for _ in range(n)])
    return w_in, w_res, w_back


@pytest.mark.parametrize("feedback", [False, True])
def test_draw_order_is_the_documented_one(feedback: bool) -> None:
    cfg = EsnConfig(3, 12, 2, density=0.3, input_scale=0.5, feedback=feedback, feedback_scale=0.25, seed=11)
    got = esn.draw_reservoir(cfg)
    want = _draw_by_hand(cfg)
    for name, g, w in zip(("w_in", "w_res", "w_back"), got, want, strict=True):
        if w is None:
            assert g is None, name
        else:
            assert g is not None
            assert g.dtype == np.float32, name
            np.testing.assert_array_equal(g, w, err_msg=name)


def test_feedback_does_not_move_the_other_draws() -> None:
    # W_back is drawn last, so turning feedback on keeps W_in and W_res: a reservoir is comparable with and without.
    base = EsnConfig(2, 30, 2, seed=4)
    plain = esn.draw_reservoir(base)
    fed = esn.draw_reservoir(EsnConfig(2, 30, 2, seed=4, feedback=True))
    np.testing.assert_array_equal(plain[0], fed[0])
    np.testing.assert_array_equal(plain[1], fed[1])


@pytest.mark.parametrize("density", [0.05, 0.2, 1.0])
def test_density_is_the_fraction_of_nonzeros(density: float) -> None:
    _, w_res, _ = esn.draw_reservoir(EsnConfig(1, 100, 1, density=density, seed=2))
    frac = np.count_nonzero(w_res) / w_res.size
    # Binomial over 10,000 entries: std <= 0.005; 5 sigma = 0.025. density 1 keeps all but exact-zero values.
    assert abs(frac - density) < 0.025


# ----------------------------------------------------------------------------------------------- spectral radius

# Documented accuracy (module docstring): with the default 128 iterations 99% of random reservoirs land within 1.8%
# and the worst of 360 was 5.5% low. 6% is that worst case, rounded up: a sound estimator passes, while the usual
# mistakes (last-step norm ratio on an oscillating pair, spectral norm ~2x the radius, no normalisation) do not.
RHO_REL_TOL = 0.06


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("n", [50, 100, 200])
@pytest.mark.parametrize("density", [0.1, 1.0])
def test_spectral_radius_against_eigvals(record_property, n: int, seed: int, density: float) -> None:
    cfg = EsnConfig(1, n, 1, density=density, spectral_radius=0.9, seed=seed)
    _, w_raw, _ = esn.draw_reservoir(cfg)
    true_rho = float(np.max(np.abs(np.linalg.eigvals(w_raw.astype(np.float64)))))
    est32 = esn.spectral_radius(w_raw, cfg.power_iterations, np.float32)
    est64 = esn.spectral_radius(w_raw, cfg.power_iterations, np.float64)
    record_property("rel_err", est32 / true_rho - 1)
    assert est32 == pytest.approx(true_rho, rel=RHO_REL_TOL)
    # Same algorithm in float32 and float64: each growth carries a few ulps of rounding and the geometric mean over
    # 64 of them averages it; measured ~3e-8, so 1e-5 is far from the algorithm's own error and catches a wrong
    # float32 path (which would be off by much more than rounding).
    assert est32 == pytest.approx(est64, rel=1e-5)
    scaled = esn.make_reservoir(cfg).w_res.astype(np.float64)
    assert float(np.max(np.abs(np.linalg.eigvals(scaled)))) == pytest.approx(0.9, rel=RHO_REL_TOL)


@pytest.mark.parametrize(
    ("w", "rho"),
    [([[0.0, 4.0], [1.0, 0.0]], 2.0), ([[0.0, -4.0], [1.0, 0.0]], 2.0), ([[0.0, 0.0, 8.0], [1, 0, 0], [0, 1, 0]], 2.0)],
    ids=["real-pair", "complex-pair", "cyclic-3"],
)
def test_spectral_radius_of_oscillating_iterations(w: list[list[float]], rho: float) -> None:
    # Here ||W x|| / ||x|| alternates between 4 and 1 (or cycles 8, 1, 1): one step's ratio is never the radius,
    # only the mean log-growth over whole periods is. Windows of 64 contain whole periods of 2, and 64 = 21*3 + 1
    # steps of the 3-cycle leave one step over, i.e. error of at most 8^(1/64) = 3.3% from that stray step.
    est = esn.spectral_radius(np.array(w), 128, np.float64)
    tol = 1e-12 if len(w) == 2 else 0.034
    assert est == pytest.approx(rho, rel=tol)


def test_spectral_radius_edge_cases() -> None:
    nilpotent = np.triu(np.ones((5, 5)), k=1)  # W^5 = 0: the iterate dies, the radius is 0
    assert esn.spectral_radius(nilpotent, 16) == 0.0
    with pytest.raises(NonFiniteError):
        esn.spectral_radius(np.array([[np.nan, 1.0], [1.0, 0.0]]), 8)
    with pytest.raises(ValueError, match="square"):
        esn.spectral_radius(np.ones((2, 3)), 8)
    assert esn.power_window(2) == 1
    assert esn.power_window(128) == 64
    assert esn.power_window(100) == 32


def test_reservoir_without_growth_is_refused() -> None:
    # N = 1 at the smallest density: the single entry is zero except with probability 2**-24.
    with pytest.raises(EsnConfigError, match="raise the density"):
        esn.make_reservoir(EsnConfig(1, 1, 1, density=2.0**-24))


# --------------------------------------------------------------------------------------------------- the update


def _tiny() -> Esn:
    cfg = EsnConfig(1, 2, 1, leak_rate=0.5, feedback=True, seed=0)
    res = esn.Reservoir(
        w_in=np.array([[0.1, 0.5], [-0.2, 0.3]], np.float32),
        w_res=np.array([[0.0, 0.4], [-0.6, 0.0]], np.float32),
        w_back=np.array([[0.7], [0.25]], np.float32),
        rho_estimate=1.0,
    )
    return Esn(config=cfg, reservoir=res)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_update_by_hand(dtype: type) -> None:
    model = _tiny()
    u = np.array([[1.0], [-2.0]])
    teacher = np.array([[0.5], [3.0]])
    x0 = 0.5 * np.tanh(np.array([0.1 + 0.5 * 1.0, -0.2 + 0.3 * 1.0]))  # x(-1) = 0, y(-1) = 0
    pre1 = np.array([0.1 + 0.5 * -2.0 + 0.4 * x0[1] + 0.7 * 0.5, -0.2 + 0.3 * -2.0 - 0.6 * x0[0] + 0.25 * 0.5])
    x1 = 0.5 * x0 + 0.5 * np.tanh(pre1)
    states, _ = model.run(u, teacher, dtype=dtype)
    # float32 weights are the hand values rounded to float32 (1e-8 relative) and float32 arithmetic adds a few ulps
    # of values below 1: 1e-6 leaves 10x margin; float64 differs only by the weights' rounding.
    tol = 1e-6 if dtype == np.float32 else 1e-7
    np.testing.assert_allclose(states, np.stack([x0, x1]), rtol=0, atol=tol)


def test_float32_run_tracks_float64() -> None:
    model = Esn.create(EsnConfig(3, 100, 3, density=0.1, leak_rate=0.3, seed=7))
    u = np.random.default_rng(0).normal(size=(300, 3))
    x64, _ = model.run(u)
    x32, _ = model.run(u, dtype=np.float32)
    # float32 rounding (~6e-8 relative per operation, sums of ~14 nonzero terms) through a contracting reservoir
    # (spectral radius 0.9, leak 0.3): the error settles at a small multiple of one step's. Measured 1.4e-7.
    np.testing.assert_allclose(x32, x64, rtol=0, atol=5e-6)


# -------------------------------------------------------------------------------------------- ridge regression


def _spd(d: int, seed: int, cond: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return (q * np.geomspace(1.0, 1.0 / cond, d)) @ q.T


def test_cholesky_matches_numpy() -> None:
    a = _spd(40, 1, cond=1e4)
    low = esn.cholesky(a)
    # Both are backward stable; L is determined by A up to rounding amplified by at most sqrt(cond) = 100:
    # 100 * 40 * 1.1e-16 = 4.4e-13 relative to ||L|| ~ 1.
    np.testing.assert_allclose(low, np.linalg.cholesky(a), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(low, np.tril(low))
    exact = esn.cholesky(a.astype(np.float32), exact_order=True)
    # Same bound with float32's unit roundoff: 100 * 40 * 6e-8 = 2.4e-4.
    np.testing.assert_allclose(exact, np.linalg.cholesky(a), rtol=0, atol=2.4e-4)


def test_cholesky_refuses_indefinite() -> None:
    with pytest.raises(NotPositiveDefiniteError, match="pivot 1 of 2"):
        esn.cholesky(np.array([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(NotPositiveDefiniteError, match="pivot 0"):
        esn.cholesky(np.array([[np.nan]]))


@pytest.mark.parametrize("ridge", [1e-6, 1e-2, 10.0])
def test_ridge_solve_matches_lstsq_on_augmented_system(ridge: float) -> None:
    rng = np.random.default_rng(3)
    z = np.concatenate([np.ones((200, 1)), rng.normal(size=(200, 20))], axis=1)
    y = rng.normal(size=(200, 3))
    ne = NormalEquations(21, 3)
    ne.add_many(z, y)
    got = ne.solve(ridge)
    augmented = np.concatenate([z, math.sqrt(ridge) * np.eye(21)])
    want, *_ = np.linalg.lstsq(augmented, np.concatenate([y, np.zeros((21, 3))]), rcond=None)
    cond = np.linalg.cond(ne.a + ridge * np.eye(21))
    # Normal equations square the condition number of Z: forward error ~ cond(A + ridge I) * u64 with a small
    # multiple of D; cond here is < 10, so 1e-12 is ~1000x that and still 1e10 below any real mistake.
    assert cond < 10
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_normal_equations_stream_equals_batch_and_ignores_t() -> None:
    rng = np.random.default_rng(4)
    z = rng.normal(size=(50, 6))
    y = rng.normal(size=(50, 2))
    stream = NormalEquations(6, 2)
    for zi, yi in zip(z, y, strict=True):
        stream.add(zi, yi)
    batch = NormalEquations(6, 2)
    batch.add_many(z, y)
    np.testing.assert_allclose(stream.a, z.T @ z, rtol=1e-12)
    np.testing.assert_allclose(stream.b, batch.b, rtol=1e-12)
    assert stream.a.shape == (6, 6) and stream.n_samples == 50  # memory independent of the number of samples
    f32 = NormalEquations(6, 2, np.float32)
    f32.add_many(z, y)
    by_hand = np.zeros((6, 6), np.float32)
    for zi in z.astype(np.float32):
        by_hand += np.outer(zi, zi)
    np.testing.assert_array_equal(f32.a, by_hand)


def test_ridge_solve_refuses_non_finite_and_singular() -> None:
    with pytest.raises(NonFiniteError):
        esn.ridge_solve(np.array([[1.0, 0.0], [np.inf, 1.0]]), np.ones((2, 1)), 0.1)
    with pytest.raises(NotPositiveDefiniteError, match="raise the ridge"):
        esn.ridge_solve(np.zeros((3, 3)), np.zeros((3, 1)), 0.0)


def test_pack_unpack_lower() -> None:
    a = np.arange(16.0).reshape(4, 4)
    packed = esn.pack_lower(a)
    np.testing.assert_array_equal(packed, [0, 4, 5, 8, 9, 10, 12, 13, 14, 15])
    np.testing.assert_array_equal(esn.unpack_lower(packed, 4), np.tril(a))


# ------------------------------------------------------------------------------------------------------- fitting


def test_fit_recovers_a_linear_readout() -> None:
    # The target is an exact linear function of z = [1; u; x]: ridge 1e-10 must give it back.
    cfg = EsnConfig(2, 20, 1, density=0.3, ridge=1e-10, washout=10, seed=3)
    model = Esn.create(cfg)
    u = np.random.default_rng(5).normal(size=(400, 2))
    x, _ = model.run(u)
    z = esn.extended_state(cfg, u, x)
    w_true = np.random.default_rng(6).normal(size=(cfg.n_features, 1))
    model.fit(u, z @ w_true)
    # cond(A) of these states is ~1e6, u64 * cond = 1e-10, plus the ridge's bias 1e-10 * ||w|| / lambda_min(A):
    # 1e-6 leaves a wide margin and still rejects any misplaced column.
    np.testing.assert_allclose(model.w_out_t, w_true, rtol=0, atol=1e-6)
    np.testing.assert_allclose(model.predict(u), z @ w_true, rtol=0, atol=1e-6)


def test_washout_samples_are_not_fitted() -> None:
    cfg = EsnConfig(1, 15, 1, washout=25, seed=1)
    u = np.sin(np.arange(200) / 5.0)[:, None]
    y = np.cos(np.arange(200) / 5.0)[:, None]
    y_changed = y.copy()
    y_changed[:25] = 1e3  # garbage targets inside the washout must change nothing
    a = Esn.create(cfg).fit(u, y).w_out_t
    b = Esn.create(cfg).fit(u, y_changed).w_out_t
    np.testing.assert_array_equal(a, b)
    c = Esn.create(EsnConfig(1, 15, 1, washout=24, seed=1)).fit(u, y_changed).w_out_t
    assert not np.allclose(a, c)


def test_float32_fit_tracks_float64() -> None:
    cfg = EsnConfig.autoencoder(2, 40, density=0.2, leak_rate=0.5, ridge=1.0, washout=20, seed=2)
    t = np.arange(800)
    u = np.stack([np.sin(t / 8.0), np.cos(t / 5.0)], axis=1)
    w64 = Esn.create(cfg).fit(u).w_out_t
    model32 = Esn.create(cfg).fit(u, dtype=np.float32)
    a = NormalEquations(cfg.n_features, 2)
    x, _ = model32.run(u)
    a.add_many(esn.extended_state(cfg, u, x)[20:], u[20:])
    cond = np.linalg.cond(a.a + cfg.ridge * np.eye(cfg.n_features))
    # float32 perturbs A by ~T*u relative (780 sequential sums) and the solve by ~D*u; the relative change of W_out
    # is at most cond times that (a worst case: measured 4.4e-4 against a bound of 0.28).
    bound = cond * (780 + cfg.n_features) * U
    assert bound < 0.5, "the test needs a well enough conditioned problem to mean anything"
    rel = np.linalg.norm(model32.w_out_t - w64) / np.linalg.norm(w64)
    assert rel < bound


def test_predict_without_teacher_feeds_back_its_own_output() -> None:
    cfg = EsnConfig(1, 30, 1, feedback=True, feedback_scale=0.5, ridge=1e-4, seed=9)
    t = np.arange(300)
    u = np.sin(t / 6.0)[:, None]
    y = np.sin((t + 1) / 6.0)[:, None]
    model = Esn.create(cfg).fit(u, y)
    forced = model.predict(u, y)
    free = model.predict(u)
    assert forced.shape == free.shape == (300, 1)
    assert not np.array_equal(forced, free)
    with pytest.raises(ValueError, match="teacher"):
        model.run(u)


# -------------------------------------------------------------------------------------------------- anomalies


def test_window_mse_threshold_and_flags_by_hand() -> None:
    u = np.zeros((7, 2))
    u_hat = np.array([[1, 1], [1, 1], [0, 2], [0, 0], [3, 0], [0, 1], [9, 9]], float)
    # Windows of 2 from sample 1: [1..2] -> (1+1+0+4)/4 = 1.5, [3..4] -> 9/4 = 2.25, [5..6] -> (1+81+81)/4 = 40.75
    mse = esn.window_mse(u, u_hat, window=2, start=1)
    np.testing.assert_allclose(mse, [1.5, 2.25, 40.75])
    # median 2.25 + population std of [1.5, 2.25, 40.75] (ddof=0: sqrt(mean of squared deviations))
    mean = (1.5 + 2.25 + 40.75) / 3
    std = math.sqrt(((1.5 - mean) ** 2 + (2.25 - mean) ** 2 + (40.75 - mean) ** 2) / 3)
    assert esn.anomaly_threshold(mse) == pytest.approx(2.25 + std, rel=1e-15)
    assert esn.window_mse(u, u_hat, window=3).shape == (2,)  # a trailing partial window is dropped


def test_detection_report_by_hand() -> None:
    labels = np.zeros(40, int)
    labels[6:9] = 1  # segment A: samples 6-8
    labels[21:23] = 1  # segment B: samples 21-22
    labels[33:35] = 1  # segment C: samples 33-34, never flagged
    # Windows of 5 from sample 0: [0-4] [5-9] [10-14] [15-19] [20-24] [25-29] [30-34] [35-39]
    flags = np.array([0, 0, 1, 1, 0, 1, 0, 0], bool)
    rep = esn.detection_report(flags, labels, window=5)
    # Truth per window: 0 1 0 0 1 0 1 0. TP = 0, FP = 3 (windows 2, 3, 5), FN = 3 (windows 1, 4, 6).
    assert (rep.precision, rep.recall, rep.f1) == (0.0, 0.0, 0.0)
    # A: first flagged window overlapping 6-8 ... window 2 (10-14) does not overlap, so missed.
    # B: windows overlapping 21-22 are only window 4, unflagged: missed. C: missed.
    assert rep.delays == (None, None, None)

    flags = np.array([0, 1, 0, 0, 0, 1, 1, 0], bool)
    rep = esn.detection_report(flags, labels, window=5)
    # TP = 2 (windows 1, 6), FP = 1 (window 5), FN = 1 (window 4).
    assert rep.precision == pytest.approx(2 / 3)
    assert rep.recall == pytest.approx(2 / 3)
    assert rep.f1 == pytest.approx(2 / 3)
    # A: window 1 (5-9) raises at its last sample 9: delay 9 - 6 = 3. B missed. C: window 6 (30-34) -> 34 - 33 = 1.
    assert rep.delays == (3, None, 1)
    assert rep.detected == 2
    assert rep.mean_delay == 2.0
    with pytest.raises(ValueError, match="same window"):
        esn.detection_report(flags[:-1], labels, window=5)


def _sines(n: int, seed: int) -> np.ndarray:
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    return np.stack([np.sin(2 * np.pi * t / 50), np.cos(2 * np.pi * t / 37)], axis=1) + 0.02 * rng.normal(size=(n, 2))


def test_autoencoder_flags_an_injected_anomaly() -> None:
    cfg = EsnConfig.autoencoder(2, 50, density=0.2, leak_rate=0.5, ridge=0.1, washout=50, seed=1)
    assert not cfg.readout_input
    model = EsnAutoencoder.train(cfg, _sines(3000, 0), window=25)
    assert model.threshold == pytest.approx(esn.anomaly_threshold(model.train_mse))
    test = _sines(1000, 1)
    labels = np.zeros(1000, int)
    labels[500:550] = 1
    test[500:550] += 1.5 * np.sin(2 * np.pi * np.arange(50) / 7)[:, None]  # a fast oscillation the sines lack
    scores = model.scores(test)
    rep = model.evaluate(test, labels)
    assert rep.recall == 1.0
    # Window 18 (sample 500-524 after the 50-sample washout) holds only anomaly: its MSE must dwarf the threshold.
    assert scores[18] > 10 * model.threshold
    assert rep.delays == (24,)
    assert isinstance(rep, DetectionReport)


def test_autoencoder_needs_o_equal_k() -> None:
    with pytest.raises(EsnConfigError, match="n_outputs == n_inputs"):
        EsnAutoencoder.train(EsnConfig(2, 10, 1), _sines(100, 0), window=10)


# ------------------------------------------------------------------------------------------------------ config


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"density": 0.0}, "density"),
        ({"density": 1.5}, "density"),
        ({"spectral_radius": 0.0}, "spectral_radius"),
        ({"leak_rate": 0.0}, "leak_rate"),
        ({"ridge": -1.0}, "ridge"),
        ({"power_iterations": 1}, "power_iterations"),
        ({"n_reservoir": 0}, "n_reservoir"),
        ({"n_inputs": 70000}, "16 bits"),
        ({"seed": -1}, "uint32"),
        ({"input_scale": 1e39}, "not finite in float32"),
    ],
)
def test_config_validation(kwargs: dict, match: str) -> None:
    base = {"n_inputs": 1, "n_reservoir": 10, "n_outputs": 1}
    with pytest.raises(EsnConfigError, match=match):
        EsnConfig(**{**base, **kwargs})


def test_config_floats_are_float32() -> None:
    cfg = EsnConfig(1, 10, 1, density=0.1, ridge=1e-6)
    assert cfg.density == float(np.float32(0.1)) != 0.1
    assert cfg.mask_threshold == int(np.float32(0.1) * 2**24)


@pytest.mark.parametrize(
    ("k", "n", "feedback", "readout_input", "train_total"),
    [(1, 50, False, True, 4 * (50 * 2 + 2500 + 100 + 52 + 1 + 52 * 53 // 2 + 52))],
)
def test_buffer_sizes_formula(k: int, n: int, feedback: bool, readout_input: bool, train_total: int) -> None:
    cfg = EsnConfig(k, n, k, feedback=feedback, readout_input=readout_input)
    sizes = esn.buffer_sizes(cfg)
    assert sizes.train_total == train_total
    assert sizes.infer_total == sizes.train_total - sizes.a
