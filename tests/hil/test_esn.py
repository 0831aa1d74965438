"""Echo State Network built, trained and scored on the device, against the numpy reference (harness.models.esn).

The device draws the reservoir from the seed, adds every training sample to the normal equations A = sum z z^T,
B = sum z y^T, solves (A + ridge I) W_out^T = B by Cholesky, scores the training windows a second time to set the
autoencoder's threshold (median + std of their MSEs), then flags test windows whose MSE exceeds it. Parity is checked
stage by stage (reservoir bit for bit, states, A, W_out within the bound the system's conditioning gives, window
MSEs, threshold, flags); detection is measured on two anomaly tasks and recorded beside the figures of the source
study (an ESN autoencoder on an STM32F401 flagging a DC motor's vibrations: precision 0.808, recall 0.983, F1 0.887).

Data: hourly water flow with hand-labelled drops and peaks (train on the normal stretches, score the test split),
and smartwatch IMU novelty (learn forward elevation from subjects 1-7, flag other exercises of subjects 8-10).
Both runs happen once per board (module fixtures); the tests check what they measured. Everything crosses the link as
float32; the IMU is streamed at 25 Hz (see _decimate) and, with --hil-size quick, in part (IMU_QUICK_*).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cache

import numpy as np
import pytest

from harness import datasets
from harness.models import esn
from harness.models.esn import Esn, EsnAutoencoder, EsnConfig, NormalEquations
from harness.proto import wire
from harness.proto.client import Client, DeviceError, EsnFitResult, EsnInfo, EsnScoreResult, EsnThreshold
from harness.proto.wire import Status
from harness.session import BoardSession

pytestmark = pytest.mark.hil_requires("esn_f32")

U32 = 2.0**-24  # float32 unit roundoff

# The source study's figures (ESN autoencoder, STM32F401, DC motor vibrations), recorded beside ours.
SOURCE_STUDY = {"precision": 0.808, "recall": 0.983, "f1": 0.887}

# Water flow: K = 1, the task's 24-hour windows. Washout 12 h, leak 0.5 and ridge 0.1 were chosen on the reference
# (seeds 1-3, washout 6/12/24, leak 0.5/1, ridge 0.01/0.1: the 12/0.5/0.1 row had the fewest false alarms on every
# seed); the device has to match the reference whatever the choice.
WATER = EsnConfig.autoencoder(1, 100, density=0.1, spectral_radius=0.9, leak_rate=0.5, ridge=0.1, washout=12, seed=1)
WATER_WINDOW = 24
# IMU: K = 6 at 25 Hz, windows of 50 samples (the task's 2 s), 1 s washout. input_scale 6 and leak 0.3 gave the
# reference its best recall on a grid of input_scale 1-12, leak 0.3/1, ridge 1-3000 (an autoencoder of [1; x] that
# reconstructs any motion well flags nothing; a saturated reservoir reconstructs only what it was fitted on).
IMU = EsnConfig.autoencoder(
    6, 100, density=0.1, spectral_radius=0.9, input_scale=6.0, leak_rate=0.3, ridge=1.0, washout=25, seed=1
)
IMU_WINDOW = 50
# --hil-size quick streams the first 24 s of each training and 16 s of each test recording (25 Hz samples): 33k
# samples, ~1 MB over the link with both training passes, about a minute on QEMU; the reference fits the same
# subset. full streams every recording whole (104k samples, 2.5 MB over the link: a few minutes on QEMU).
IMU_QUICK_TRAIN = 600
IMU_QUICK_TEST = 400
CALIB_WINDOWS = 512  # calibration slots: both tasks have fewer training windows (water 10, IMU 152 or 256)


def _decimate(u: np.ndarray) -> np.ndarray:
    """50 Hz -> 25 Hz by the mean of each pair: half the bytes over the link, and nothing the detector uses is lost
    (a repetition of these exercises takes ~2 s, their motion is far below the new 12.5 Hz Nyquist limit). The
    reference sees the same 25 Hz stream."""
    n = len(u) // 2 * 2
    return ((u[0:n:2].astype(np.float64) + u[1:n:2]) / 2).astype(np.float32)


@dataclass(frozen=True)
class Stream:
    u: np.ndarray  # [T, K] float32, as sent
    labels: np.ndarray  # [T] bool, per sample


@cache
def _water() -> tuple[list[Stream], list[Stream], list[Stream]]:
    """Training stretches (normal hours only), test-split streams, and the training split's whole streams (its four
    labelled events, for the peaks the test split does not have)."""
    task = datasets.AnomalyTask.from_manifest(datasets.load("water_flow"))
    assert task.window == WATER_WINDOW, "the manifest's window changed; update WATER_WINDOW"

    def wrap(streams: list[datasets.LabelledStream]) -> list[Stream]:
        return [Stream(s.u.astype(np.float32), s.labels.astype(bool)) for s in streams]

    return (
        wrap(task.streams("train", normal_only=True)),
        wrap(task.streams("test", min_length=WATER.washout + WATER_WINDOW)),
        wrap(task.streams("train", min_length=WATER.washout + WATER_WINDOW)),
    )


@cache
def _imu(size: str) -> tuple[list[Stream], list[Stream]]:
    ds = datasets.load_recordings("watch_imu")
    task = datasets.NoveltyTask.from_manifest(ds)

    def stream(i: int, limit: int | None) -> Stream:
        u = _decimate(task.scaler.transform(ds.recording(int(i))).astype(np.float32))[:limit]
        return Stream(u, np.full(len(u), ds.y[i] != task.normal_index))

    quick = size == "quick"
    return (
        [stream(i, IMU_QUICK_TRAIN if quick else None) for i in task.recordings("train")],
        [stream(i, IMU_QUICK_TEST if quick else None) for i in task.recordings("test")],
    )


# ---------------------------------------------------------------------------------------------- reference side


def _reference(cfg: EsnConfig, train: list[Stream], dtype: type) -> tuple[Esn, NormalEquations]:
    """Fit on several streams as the device does: the state restarts at each, the washout is skipped in each."""
    model = Esn.create(cfg)
    normal = NormalEquations(cfg.n_features, cfg.n_outputs, dtype)
    for s in train:
        x, _ = model.run(s.u, dtype=dtype)
        normal.add_many(esn.extended_state(cfg, s.u, x)[cfg.washout :], s.u[cfg.washout :])
    a, b = normal.a.copy(), normal.b.copy()
    model.w_out_t = normal.solve(cfg.ridge)
    normal.a, normal.b = a, b  # keep A and B, not the factor
    return model, normal


@dataclass(frozen=True)
class Detection:
    flags: np.ndarray  # every window of every stream, in order
    truth: np.ndarray
    report: esn.DetectionReport  # precision/recall/F1 over all windows; delays per labelled segment

    @classmethod
    def of(cls, flags: list[np.ndarray], streams: list[Stream], window: int, washout: int) -> Detection:
        """Delays count from the first scored sample (the washout's end) when a segment starts inside the washout,
        as every anomalous IMU recording does: the detector cannot see earlier."""
        delays: list[int | None] = []
        for f, s in zip(flags, streams, strict=True):
            delays += esn.detection_report(f, s.labels[washout:], window, 0).delays
        flag = np.concatenate(flags)
        truth = np.concatenate([esn.window_labels(s.labels, window, washout) for s in streams])
        full = esn.detection_report(flag, truth, 1)  # windows as samples: the counts and P/R/F1 over all streams
        return cls(flag, truth, esn.DetectionReport(full.precision, full.recall, full.f1, tuple(delays)))


# ------------------------------------------------------------------------------------------------- device side


@dataclass(frozen=True)
class DeviceRun:
    info: EsnInfo
    fit: EsnFitResult
    calib: list[EsnScoreResult]
    threshold: EsnThreshold
    scored: dict[str, list[EsnScoreResult]]
    tensors: dict[str, np.ndarray]


def _esn_client(hil_session: BoardSession) -> Client:
    client = hil_session.open(hil_session.image)
    assert hil_session.hello is not None
    if "esn_f32" not in hil_session.hello.capability_names:
        pytest.skip(f"board {hil_session.board.name} lacks esn_f32")  # module fixtures run before hil_requires
    return client


def _esn_configure(client: Client, cfg: EsnConfig, *, window: int, max_windows: int = 0) -> EsnInfo:
    """ESN_CONFIG, asked with QUERY first: on a board whose arena cannot hold this reservoir (the 64 KB Cortex-M3)
    the test skips with the device's own numbers; the refusal itself is checked in
    test_oversize_is_refused_up_front_and_lstm_is_dropped_only_by_a_real_config."""
    need = client.esn_config(cfg, window=window, max_windows=max_windows, query=True)
    if not need.fits:
        pytest.skip(f"an ESN of {cfg.n_reservoir} units needs {need.needed_bytes} B, the arena has "
                    f"{need.free_bytes} B")  # fmt: skip
    return client.esn_config(cfg, window=window, max_windows=max_windows)


def _train_on_device(
    client: Client, cfg: EsnConfig, window: int, train: list[Stream], evaluate: dict[str, list[Stream]]
) -> DeviceRun:
    info = _esn_configure(client, cfg, window=window, max_windows=CALIB_WINDOWS)
    n, d = cfg.n_reservoir, cfg.n_features
    tensors: dict[str, np.ndarray] = {}  # the reservoir itself is test_reservoir_is_bit_identical_and_scaled's
    # The state after the first window of the first stream, then the rest of that stream: chunks continue it.
    first = train[0].u
    client.esn_feed(first[:window])
    tensors["state_after_window"] = client.read_tensor("esn_state", n)
    client.esn_feed(first[window:], begin=False)
    for s in train[1:]:
        client.esn_feed(s.u)
    tensors["a"] = client.read_tensor("esn_a", d * (d + 1) // 2)
    tensors["b"] = client.read_tensor("esn_w_out", d * cfg.n_outputs).reshape(d, cfg.n_outputs)
    fit = client.esn_fit()
    tensors["w_out_t"] = client.read_tensor("esn_w_out", d * cfg.n_outputs).reshape(d, cfg.n_outputs)
    calib = [client.esn_score(s.u, calibrate=True) for s in train]
    threshold = client.esn_threshold()
    tensors["threshold"] = client.read_tensor("esn_threshold", 1)
    scored = {name: [client.esn_score(s.u) for s in streams] for name, streams in evaluate.items()}
    return DeviceRun(info, fit, calib, threshold, scored, tensors)


@pytest.fixture(scope="module")
def water_run(hil_session: BoardSession) -> DeviceRun:
    client = _esn_client(hil_session)
    train, test, train_all = _water()
    return _train_on_device(client, WATER, WATER_WINDOW, train, {"test": test, "train_all": train_all})


@pytest.fixture(scope="module")
def water_reference() -> tuple[Esn, NormalEquations]:
    return _reference(WATER, _water()[0], np.float32)


@pytest.fixture(scope="module")
def imu_run(hil_session: BoardSession, pytestconfig: pytest.Config) -> DeviceRun:
    client = _esn_client(hil_session)
    train, test = _imu(pytestconfig.getoption("--hil-size"))
    return _train_on_device(client, IMU, IMU_WINDOW, train, {"test": test})


@pytest.fixture(scope="module")
def imu_reference(pytestconfig: pytest.Config) -> EsnAutoencoder:
    """float64: the model itself, for flags and metrics (float32 parity: test_w_out_within_conditioning_bound)."""
    train, _ = _imu(pytestconfig.getoption("--hil-size"))
    model, _ = _reference(IMU, train, np.float64)
    auto = EsnAutoencoder(model, IMU_WINDOW, np.nan, np.empty(0))
    auto.train_mse = np.concatenate([auto.scores(s.u) for s in train])
    auto.threshold = esn.anomaly_threshold(auto.train_mse)
    return auto


# ---------------------------------------------------------------------------------------------------- parity


@pytest.mark.parametrize("feedback", [False, True])
def test_reservoir_is_bit_identical_and_scaled(hil_session: BoardSession, record, feedback: bool) -> None:
    """W_in, W_res (with its power-iteration scaling) and W_back drawn on the device from the seed equal the
    reference's to the bit; the scaled W_res has the configured spectral radius within the estimator's accuracy."""
    client = _esn_client(hil_session)
    # Without feedback: the water run's reservoir (K, O and the readout do not change the draws). With: W_back is
    # drawn last, so a smaller reservoir checks the whole stream at a quarter of the bytes to read back.
    n = 50 if feedback else WATER.n_reservoir
    cfg = EsnConfig(1, n, 1, density=0.1, spectral_radius=0.9, feedback=feedback, feedback_scale=0.5, seed=1)
    assert feedback or esn.draw_reservoir(cfg)[1].tobytes() == esn.draw_reservoir(WATER)[1].tobytes()
    info = _esn_configure(client, cfg, window=WATER_WINDOW)
    ref = esn.make_reservoir(cfg)
    w_in = client.read_tensor("esn_w_in", n * 2).reshape(n, 2)
    w_res = client.read_tensor("esn_w_res", n * n).reshape(n, n)
    np.testing.assert_array_equal(w_in, ref.w_in)
    np.testing.assert_array_equal(w_res, ref.w_res)
    assert info.rho_estimate == ref.rho_estimate, "the power iteration's estimate differs from the reference's"
    if feedback:
        np.testing.assert_array_equal(client.read_tensor("esn_w_back", n).reshape(n, 1), ref.w_back)
        return
    rho = float(np.abs(np.linalg.eigvals(w_res.astype(np.float64))).max())
    err = rho / cfg.spectral_radius - 1
    record("spectral_radius_rel_err", err, "1", model="esn100", dataset="eigvals")
    record("esn_config_" + hil_session.hello.counter_unit, hil_session.hello.ticks_to_counter_unit(info.ticks),
           hil_session.hello.counter_unit, model="esn100")  # fmt: skip
    # The estimator's documented accuracy at 128 iterations (harness/models/esn.py): over 360 random reservoirs 99%
    # within 1.8% of eigvals and the worst 5.5%, almost always low (scaled W_res then slightly above target).
    assert abs(err) <= 0.055, f"spectral radius {rho:.4f} of the device's W_res is {err:+.2%} off {cfg.spectral_radius}"


def test_states_and_normal_equations_match_reference(water_run: DeviceRun, water_reference, record) -> None:
    model, normal = water_reference
    train = _water()[0]
    x_ref, _ = model.run(train[0].u[:WATER_WINDOW], dtype=np.float32)
    err = float(np.abs(water_run.tensors["state_after_window"] - x_ref[-1]).max())
    record("state_max_abs_err", err, "1", model="esn100", dataset="water_flow")
    # States: libm's tanhf and numpy's tanh differ by <= 2 ulp per step (a few 1e-7 of values <= 1); the recurrence
    # contracts (spectral radius 0.9 with leak 0.5: error shrinks by ~0.95 a step), so 24 steps add at most
    # 1/(1-0.95) = 20 steps' worth: ~5e-6 (measured 1.2e-7). 1e-5 holds that; a wrong weight moves states by 1e-2.
    assert err <= 1e-5, f"state after {WATER_WINDOW} samples differs by {err:.2e}"
    d = WATER.n_features
    a_dev = esn.unpack_lower(water_run.tensors["a"], d)
    a_ref = np.tril(normal.a)
    rel_a = float(np.abs(a_dev - a_ref).max() / np.abs(a_ref).max())
    record("normal_a_rel_err", rel_a, "1", model="esn100", dataset="water_flow")
    # A sums 298 products of those states: their ~1e-6 relative differences, plus the board's fused multiply-adds
    # (a rounding per term, ~6e-8), stay ~1e-6 of A's largest entry; 1e-5 is their bound with a 10x margin.
    assert rel_a <= 1e-5, f"A differs from the reference's by {rel_a:.2e} of its largest entry"
    assert water_run.fit.samples_fitted == sum(len(s.u) - WATER.washout for s in train)


@dataclass(frozen=True)
class WOutCheck:
    rel: float  # ||W_dev - W_ref|| / ||W_ref||, W_ref the float32 reference's
    bound: float  # what the differences of A and B and the two float32 solves allow
    solve_rel: float  # the device's solve against an exact (float64) solve of the device's own A and B
    cond: float  # of A + ridge I

    def check(self, what: str) -> None:
        u_cond = self.cond * U32
        # The device's Cholesky against an exact solve of its own A, B: a float32 solve's forward error is about
        # cond * u in practice (the worst-case c D factor needs adversarial rounding); measured cond * u / 10 or less
        # on both tasks and on both sides (the reference's own float32 solve: 5.7e-4 at cond 1.1e5).
        assert self.solve_rel <= u_cond, f"{what}: device solve off by {self.solve_rel:.2e} > cond*u {u_cond:.2e}"
        assert self.rel <= self.bound, f"{what}: W_out off by {self.rel:.2e} > {self.bound:.2e} (cond {self.cond:.3g})"


def _w_out_check(a_packed: np.ndarray, b_dev: np.ndarray, w_dev: np.ndarray, w_ref: np.ndarray,
                 normal: NormalEquations, ridge: float) -> WOutCheck:  # fmt: skip
    """Device W_out against the float32 reference's, with the tolerance the system's conditioning gives.

    First-order perturbation of M w = b (Golub & Van Loan 2.6.2): ||dw||/||w|| <= cond/(1 - cond e_M) (e_M + e_b),
    with e_M, e_b the relative differences of M = A + ridge I and of B between device and reference (states through
    tanhf, the board's fused multiply-adds); plus each side's float32 solve, cond * u each (see WOutCheck.check)."""
    d = normal.a.shape[0]
    ridge_i = float(np.float32(ridge)) * np.eye(d)
    a_dev = esn.unpack_lower(a_packed, d).astype(np.float64)
    m_dev = a_dev + np.tril(a_dev, -1).T + ridge_i
    a_ref = np.tril(normal.a).astype(np.float64)
    m_ref = a_ref + np.tril(a_ref, -1).T + ridge_i
    cond = float(np.linalg.cond(m_ref))
    e_m = float(np.linalg.norm(m_dev - m_ref, 2) / np.linalg.norm(m_ref, 2))
    e_b = float(np.linalg.norm(b_dev - normal.b) / np.linalg.norm(normal.b))
    assert cond * e_m < 0.5, f"cond {cond:.3g} x e_M {e_m:.2e}: A differs too much for the bound to hold"
    exact_dev = np.linalg.solve(m_dev, b_dev.astype(np.float64))
    return WOutCheck(
        rel=float(np.linalg.norm(w_dev - w_ref) / np.linalg.norm(w_ref)),
        bound=cond / (1 - cond * e_m) * (e_m + e_b) + 2 * cond * U32,
        solve_rel=float(np.linalg.norm(w_dev - exact_dev) / np.linalg.norm(exact_dev)),
        cond=cond,
    )


@pytest.mark.parametrize("task", ["water", "imu"])
def test_w_out_within_conditioning_bound(
    hil_session: BoardSession, request: pytest.FixtureRequest, pytestconfig: pytest.Config, record, task: str
) -> None:
    # hil_session in the signature parametrizes the test by board, which the runs requested below need
    cfg = WATER if task == "water" else IMU
    run: DeviceRun = request.getfixturevalue(f"{task}_run")
    if task == "water":
        model, normal = request.getfixturevalue("water_reference")
    else:
        model, normal = _reference(IMU, _imu(pytestconfig.getoption("--hil-size"))[0], np.float32)
    t = run.tensors
    w = _w_out_check(t["a"], t["b"], t["w_out_t"], model.w_out_t, normal, cfg.ridge)
    name, dataset = f"esn100-k{cfg.n_inputs}", {"water": "water_flow", "imu": "watch_imu"}[task]
    for metric, value in (("cond_a_ridge", w.cond), ("w_out_rel_err", w.rel), ("w_out_rel_bound", w.bound),
                          ("w_out_solve_rel_err", w.solve_rel)):  # fmt: skip
        record(metric, value, "1", model=name, dataset=dataset)
    w.check(task)


def test_window_mses_and_threshold_match_reference(water_run: DeviceRun, water_reference, record) -> None:
    model, _ = water_reference
    train = _water()[0]
    auto = EsnAutoencoder(model, WATER_WINDOW, np.nan, np.empty(0))
    ref_mse = np.concatenate([auto.scores(s.u, dtype=np.float32) for s in train])
    dev_mse = np.concatenate([r.mse for r in water_run.calib]).astype(np.float64)
    rel = float(np.abs(dev_mse / ref_mse - 1).max())
    record("train_mse_rel_err", rel, "1", model="esn100", dataset="water_flow")
    # A window's MSE is the mean square of u_hat - u, a small difference of O(1) values: W_out's difference (bounded
    # above by the conditioning) moves it most along A's weak directions, where z has little energy; measured 2e-4
    # on both boards. 1e-2 is 50x that and far below an anomaly's margin (the test drop scores 1e5x the threshold).
    assert rel <= 1e-2, f"training window MSEs differ from the reference's by up to {rel:.2e}"
    th = water_run.threshold
    assert th.n_windows == len(ref_mse)
    # On-device median + std of its own MSEs: exact but for the final rounding to float32 (numpy sums in another
    # order, in float64: 1e-16) -> one float32 rounding, 2^-24 relative.
    own = esn.anomaly_threshold(dev_mse)
    assert th.threshold == pytest.approx(own, rel=2 * U32, abs=0)
    assert water_run.tensors["threshold"][0] == np.float32(th.threshold)
    ref_threshold = esn.anomaly_threshold(ref_mse)
    rel_t = th.threshold / ref_threshold - 1
    record("threshold_rel_err", rel_t, "1", model="esn100", dataset="water_flow")
    assert abs(rel_t) <= 1e-2, f"threshold {th.threshold:.6g} vs reference {ref_threshold:.6g}"  # as the MSEs


# ------------------------------------------------------------------------------------------------- detection


def _record_detection(record, det: Detection, ref: Detection, model: str, dataset: str, unit_s: float) -> None:
    r = det.report
    found = [d for d in r.delays if d is not None]
    delay = float(np.median(found)) if found else float("nan")
    for metric, value in (("precision", r.precision), ("recall", r.recall), ("f1", r.f1)):
        record(metric, value, "1", model=model, dataset=dataset)
        record(f"ref_{metric}", getattr(ref.report, metric), "1", model=model, dataset=dataset)
        record(f"source_study_{metric}", SOURCE_STUDY[metric], "1", model=model, dataset=dataset)
    record("detection_delay_samples", delay, "samples", model=model, dataset=dataset)
    record("detection_delay_s", delay * unit_s, "s", model=model, dataset=dataset)
    record("segments_detected", r.detected, "1", model=model, dataset=dataset)
    record("segments_missed", len(r.delays) - r.detected, "1", model=model, dataset=dataset)
    record("windows", det.flags.size, "1", model=model, dataset=dataset)
    record("windows_anomalous", int(det.truth.sum()), "1", model=model, dataset=dataset)
    record("flag_agreement", float(np.mean(det.flags == ref.flags)), "1", model=model, dataset=dataset)


def _compare(det: Detection, ref: Detection, what: str) -> None:
    agree = float(np.mean(det.flags == ref.flags))
    # Flags differ only for windows within the MSE parity (1e-2 above) of the threshold; >= 99% is what the issue
    # asks, and all of them agree when no window sits that close.
    assert agree >= 0.99, f"{what}: device and reference flags agree on {agree:.1%} of {det.flags.size} windows"
    # The metrics follow from the flags; with >= 99% agreement they move by at most a few windows' worth.
    assert det.report.f1 == pytest.approx(ref.report.f1, abs=0.02), f"{what}: F1 {det.report.f1} vs {ref.report.f1}"


@pytest.mark.parametrize("split", ["test", "train_all"])
def test_water_flow_detection(water_run: DeviceRun, record, split: str) -> None:
    """Test split: its one labelled drop (15 h). train_all: the training split's whole streams with its two drops
    and two pumping peaks (their normal hours were fitted on, so only the events are unseen)."""
    train, test, train_all = _water()
    streams = {"test": test, "train_all": train_all}[split]
    model, _ = _reference(WATER, train, np.float64)
    auto = EsnAutoencoder(model, WATER_WINDOW, np.nan, np.empty(0))
    auto.threshold = esn.anomaly_threshold(np.concatenate([auto.scores(s.u) for s in train]))
    dev = Detection.of([r.flags for r in water_run.scored[split]], streams, WATER_WINDOW, WATER.washout)
    ref = Detection.of([auto.flags(s.u) for s in streams], streams, WATER_WINDOW, WATER.washout)
    _record_detection(record, dev, ref, "esn100-autoencoder", f"water_flow:{split}", 3600.0)
    _compare(dev, ref, f"water_flow {split}")
    # The drop of the test split sits at 24 l/s against a normal band of 95-105: a detector that misses it is broken.
    assert dev.report.recall == 1.0, f"labelled windows missed: recall {dev.report.recall}"
    # The device's counters run from ESN_FIT over every scored stream (the test split was scored first).
    last = water_run.scored[split][-1]
    before = water_run.scored["test"][-1] if split == "train_all" else None
    counted = (last.windows_scored - (before.windows_scored if before else 0),
               last.windows_flagged - (before.windows_flagged if before else 0))  # fmt: skip
    assert counted == (dev.flags.size, int(dev.flags.sum())), "the device's counters disagree with its answers"


def test_imu_novelty_detection(imu_run: DeviceRun, imu_reference: EsnAutoencoder, pytestconfig, record) -> None:
    _, test = _imu(pytestconfig.getoption("--hil-size"))
    dev = Detection.of([r.flags for r in imu_run.scored["test"]], test, IMU_WINDOW, IMU.washout)
    ref = Detection.of([imu_reference.flags(s.u) for s in test], test, IMU_WINDOW, IMU.washout)
    _record_detection(record, dev, ref, "esn100-autoencoder", "watch_imu:FEL-vs-rest", 1 / 25)
    th = imu_run.threshold.threshold
    record("threshold_rel_err_vs_f64", th / imu_reference.threshold - 1, "1", model="esn100", dataset="watch_imu")
    # float32 device vs float64 reference: MSE parity as in the water run, 1e-2.
    assert th == pytest.approx(imu_reference.threshold, rel=1e-2)
    _compare(dev, ref, "watch_imu")
    # Far above chance: 84% of the test windows are anomalous, so precision must beat 0.84 to mean anything; the
    # reference flags with precision ~1.0 and recall ~0.5 (a [1; x] autoencoder reconstructs much unseen motion).
    assert dev.report.precision >= 0.95 and dev.report.recall >= 0.3, dev.report


# ---------------------------------------------------------------------------------------------------- memory


def test_memory_of_a_100_unit_reservoir_fits(hil_session: BoardSession, record) -> None:
    """From a fresh boot, the IMU's 100-unit, 6-channel ESN through every operation: its arena high-water mark is
    exactly what ESN_CONFIG reserved (nothing allocates later), inside the board's RAM budget."""
    client = _esn_client(hil_session)
    client.reset(reboot=True)
    client.hello()  # retried until the rebooted firmware answers; the high-water marks restart with it
    info = _esn_configure(client, IMU, window=IMU_WINDOW, max_windows=CALIB_WINDOWS)
    u = _imu("quick")[0][0].u[:300]
    client.esn_feed(u)
    client.esn_fit()
    client.esn_score(u, calibrate=True)
    client.esn_threshold()
    client.esn_score(u)
    stats = client.stats()
    hello = hil_session.hello
    assert hello is not None
    name = "esn100-k6"
    for metric, value in (("esn_needed_bytes", info.needed_bytes), ("esn_weights_bytes", info.weights_bytes),
                          ("esn_normal_bytes", info.normal_bytes), ("esn_state_bytes", info.state_bytes),
                          ("esn_calib_bytes", info.calib_bytes), ("arena_bytes", info.free_bytes),
                          ("arena_high_water", stats.arena_high_water), ("ram_budget", hello.ram_bytes)):  # fmt: skip
        record(metric, value, "B", model=name)
    assert info.needed_bytes == esn_needed(IMU, CALIB_WINDOWS), "ESN_CONFIG reserves other regions than documented"
    assert stats.arena_high_water == info.needed_bytes, "something allocated after ESN_CONFIG"
    if "stack_paint" in hello.capability_names:
        record("stack_high_water", stats.stack_high_water, "B", model=name)
        assert stats.stack_high_water < stats.stack_bytes
    assert info.needed_bytes <= hello.arena_bytes
    if hello.ram_bytes:  # an MCU image links only within its RAM budget (96 KB on the STM32F401 stand-in)
        assert hello.arena_bytes < hello.ram_bytes


def esn_needed(cfg: EsnConfig, max_windows: int) -> int:
    """ESN_CONFIG's reservation from the kernel's documented sizes (hil_esn.h) plus the runtime's regions."""

    def r8(n: int) -> int:
        return (n + 7) // 8 * 8

    s = esn.buffer_sizes(cfg)
    n, o, d = cfg.n_reservoir, cfg.n_outputs, cfg.n_features
    state = 2 * r8(4 * n) + r8(4 * d) + 2 * r8(4 * o)
    return r8(s.weights) + state + r8(max(s.a, s.init_scratch)) + r8(s.b) + r8(4 * max_windows)


def test_fit_memory_does_not_grow_with_samples(hil_session: BoardSession, record) -> None:
    """Two runs from a fresh boot, the second with 10x the samples: the same arena (and stack) high-water mark."""
    client = _esn_client(hil_session)
    train = _water()[0]
    marks = []
    for repeat in (1, 10):
        client.reset(reboot=True)
        client.hello()  # retried until the rebooted firmware answers; the high-water marks restart with it
        _esn_configure(client, WATER, window=WATER_WINDOW, max_windows=CALIB_WINDOWS)
        for _ in range(repeat):
            for s in train:
                client.esn_feed(s.u, in_flight=1)  # nothing arrives mid-chunk: no interrupt deepens the stack
        fit = client.esn_fit()
        assert fit.samples_fitted == repeat * sum(len(s.u) - WATER.washout for s in train)
        stats = client.stats()
        marks.append((stats.arena_high_water, stats.stack_high_water))
        record("arena_high_water", stats.arena_high_water, "B", model="esn100-k1", sample=fit.samples_fitted)
        record("stack_high_water", stats.stack_high_water, "B", model="esn100-k1", sample=fit.samples_fitted)
    assert marks[0] == marks[1], f"high-water marks (arena, stack) grew with 10x the samples: {marks}"


# ------------------------------------------------------------------------------------- refusals, all or nothing


def test_oversize_is_refused_up_front_and_lstm_is_dropped_only_by_a_real_config(deploy, hil_session) -> None:
    from harness.models.lstm import LstmModel

    dep = deploy(LstmModel.random(1, [8], 1, seed=1), where="arena")
    client = dep.client
    x = np.zeros((4, 1), np.float32)
    before = client.infer(x).outputs
    huge = EsnConfig.autoencoder(1, 2000, seed=1)  # W_res alone is 16 MB: more than any board's arena
    need = client.esn_config(huge, window=24, query=True)
    assert not need.fits and need.needed_bytes == esn_needed(huge, 0)
    with pytest.raises(DeviceError) as err:
        client.esn_config(huge, window=24)
    assert err.value.status is Status.HIL_ERR_ARENA_EXHAUSTED
    assert str(need.needed_bytes) in err.value.reason and str(need.free_bytes) in err.value.reason, err.value.reason
    np.testing.assert_array_equal(client.infer(x).outputs, before)  # refused: the LSTM model is still there
    client.esn_config(EsnConfig.autoencoder(1, 20, seed=1), window=24)
    with pytest.raises(DeviceError) as err:
        client.infer(x)
    assert err.value.status is Status.HIL_ERR_MODEL_NOT_LOADED  # documented: the ESN takes the whole arena


def test_refused_chunks_change_nothing(hil_session: BoardSession) -> None:
    client = _esn_client(hil_session)
    cfg = EsnConfig.autoencoder(1, 20, density=0.3, ridge=1e-3, washout=4, seed=2)
    client.esn_config(cfg, window=8, max_windows=16)
    u = _water()[0][0].u
    client.esn_feed(u[:40])
    d = cfg.n_features

    def snapshot() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (client.read_tensor("esn_a", d * (d + 1) // 2), client.read_tensor("esn_w_out", d),
                client.read_tensor("esn_state", cfg.n_reservoir))  # fmt: skip

    before = snapshot()
    bad = u[40:60].copy()
    skipped = struct.pack("<BBHI", 0, 0, 1, 41) + u[41].tobytes()  # sample 41 sent as if sample 40 had been
    bad[7, 0] = np.nan
    cases = [
        (Status.HIL_ERR_NON_FINITE, lambda: client.esn_feed(bad, begin=False), "[7]"),
        (Status.HIL_ERR_OUT_OF_RANGE, lambda: client.esn_feed(u[40:60] * 1e35, begin=False), "overflow"),
        # a chunk that claims another position: a lost chunk must not let later ones through
        (Status.HIL_ERR_OUT_OF_RANGE, lambda: client.request(wire.HIL_OP_ESN_FEED, skipped), "stream is at 40"),
        (Status.HIL_ERR_MODEL_NOT_LOADED, lambda: client.esn_score(u[40:60]), "before ESN_FIT"),
    ]
    for status, call, words in cases:
        with pytest.raises(DeviceError) as err:
            call()
        assert err.value.status is status and words in err.value.reason, err.value
        for x, y in zip(snapshot(), before, strict=True):
            np.testing.assert_array_equal(x, y)
    # A retransmitted chunk (same seq) is answered from the stored answer, not added twice.
    seq = client.next_seq()
    frame = wire.encode_frame(wire.HIL_OP_ESN_FEED, seq, struct.pack("<BBHI", 0, 0, 20, 40) + u[40:60].tobytes())
    client.send_raw(frame)
    first = client.wait_frame(seq, timeout=60)
    client.send_raw(frame)
    assert client.wait_frame(seq, timeout=60).payload == first.payload
    assert struct.unpack_from("<II", first.payload) == (60 - cfg.washout, 60)
    # A fit that fails (ridge 0 and fewer samples than features: A is singular) consumes A, says so, and the ESN
    # can be fed again from a new stream.
    singular = EsnConfig.autoencoder(1, 20, density=0.3, ridge=0.0, washout=4, seed=2)
    client.esn_config(singular, window=8, max_windows=16)
    client.esn_feed(u[:10])
    with pytest.raises(DeviceError) as err:
        client.esn_fit()
    assert err.value.status is Status.HIL_ERR_NON_FINITE and "feed again" in err.value.reason
    np.testing.assert_array_equal(client.read_tensor("esn_a", d * (d + 1) // 2), 0)
    assert client.esn_feed(u[:10]).samples_fitted == 6


def test_feedback_and_targets_match_reference(hil_session: BoardSession, record) -> None:
    """A predictor, not an autoencoder: y(t) = u(t+1) with W_back y(t-1) teacher-forced, as the reference trains."""
    client = _esn_client(hil_session)
    cfg = EsnConfig(1, 50, 1, density=0.2, spectral_radius=0.8, leak_rate=0.7, ridge=1e-2, feedback=True,
                    feedback_scale=0.5, washout=10, seed=5)  # fmt: skip
    streams = _water()[0]
    pairs = [(s.u[:-1], s.u[1:]) for s in streams]
    client.esn_config(cfg, window=WATER_WINDOW)
    for u, y in pairs:
        client.esn_feed(u, y)
    d = cfg.n_features
    a_packed = client.read_tensor("esn_a", d * (d + 1) // 2)
    b_dev = client.read_tensor("esn_w_out", d).reshape(d, 1)
    client.esn_fit()
    w_dev = client.read_tensor("esn_w_out", d).reshape(d, 1)
    model = Esn.create(cfg)
    normal = NormalEquations(d, 1, np.float32)
    for u, y in pairs:
        x, _ = model.run(u, y, dtype=np.float32)
        normal.add_many(esn.extended_state(cfg, u, x)[cfg.washout :], y[cfg.washout :])
    model.w_out_t = normal.solve(cfg.ridge)
    w = _w_out_check(a_packed, b_dev, w_dev, model.w_out_t, normal, cfg.ridge)
    record("w_out_rel_err", w.rel, "1", model="esn50-feedback", dataset="water_flow")
    record("w_out_rel_bound", w.bound, "1", model="esn50-feedback", dataset="water_flow")
    w.check("feedback")
    u, y = pairs[0]
    scored = client.esn_score(u, y)
    ref = esn.window_mse(y, model.predict(u, y, dtype=np.float32), WATER_WINDOW, cfg.washout)
    np.testing.assert_allclose(scored.mse, ref, rtol=1e-2)  # as the autoencoder's MSEs
