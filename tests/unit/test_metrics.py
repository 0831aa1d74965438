"""Metrics against values worked out by hand on small arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness import metrics

# p - t = [0, -1, 1, -2]; |p - t| = [0, 1, 1, 2]; (p - t)^2 = [0, 1, 1, 4], SSE = 6.
# ||t||^2 = 1 + 9 + 4 + 36 = 50; ||p||^2 = 30; p·t = 1 + 6 + 6 + 24 = 37; mean(t) = 3, SST = 4 + 0 + 1 + 9 = 14.
PRED = [1.0, 2.0, 3.0, 4.0]
TRUE = [1.0, 3.0, 2.0, 6.0]

HAND = {
    "max_abs_err": 2.0,
    "mae": 1.0,
    "rmse": math.sqrt(6 / 4),
    "l2r": math.sqrt(6) / math.sqrt(50),
    "cos": 37 / math.sqrt(30 * 50),
    "nse": 1 - 6 / 14,
}


@pytest.mark.parametrize("name", sorted(HAND))
def test_regression_metric_by_hand(name: str) -> None:
    fn = getattr(metrics, name)
    assert fn(PRED, TRUE) == pytest.approx(HAND[name], rel=1e-12)
    # Metrics are over all elements: the same numbers shaped [2, 2] give the same value.
    assert fn(np.reshape(PRED, (2, 2)), np.reshape(TRUE, (2, 2))) == pytest.approx(HAND[name], rel=1e-12)


def test_argument_order_matters_where_the_definition_is_asymmetric() -> None:
    # l2r divides by the reference's norm and nse by the reference's spread: swapping them changes the value.
    assert metrics.l2r(TRUE, PRED) == pytest.approx(math.sqrt(6) / math.sqrt(30))
    assert metrics.nse(TRUE, PRED) == pytest.approx(1 - 6 / 5)  # mean(p) = 2.5, spread 2.25+0.25+0.25+2.25


def test_regression_report_has_every_metric() -> None:
    report = metrics.regression_report(PRED, TRUE)
    assert report == pytest.approx(HAND, rel=1e-12)


def test_float32_inputs_are_computed_in_float64() -> None:
    # The square of 1e20 overflows float32 (max about 3.4e38) but not float64, so a float32 computation would give inf.
    big = np.array([1e20, -1e20], dtype=np.float32)
    zero = np.zeros(2, dtype=np.float32)
    assert metrics.rmse(big, zero) == pytest.approx(float(np.float32(1e20)), rel=1e-12)
    assert metrics.l2r(zero, big) == pytest.approx(1.0)


def test_perfect_match() -> None:
    t = np.array([[0.5, -2.0], [3.0, 1.0]])
    assert metrics.rmse(t, t) == 0.0 and metrics.max_abs_err(t, t) == 0.0 and metrics.l2r(t, t) == 0.0
    assert metrics.nse(t, t) == 1.0 and metrics.cos(t, t) == pytest.approx(1.0)


def test_degenerate_denominators_have_stated_values() -> None:
    zeros = np.zeros(3)
    assert metrics.l2r(zeros, zeros) == 0.0
    assert metrics.l2r([1.0, 0.0, 0.0], zeros) == math.inf
    assert metrics.cos(zeros, zeros) == 1.0
    assert metrics.cos([1.0, 2.0, 3.0], zeros) == 0.0
    assert metrics.cos([1.0, 2.0], [-2.0, -4.0]) == pytest.approx(-1.0)
    const = np.full(3, 7.0)
    assert metrics.nse(const, const) == 1.0
    assert metrics.nse([7.0, 7.0, 8.0], const) == -math.inf
    # Predicting the reference's mean everywhere is the NSE zero point.
    assert metrics.nse([3.0, 3.0, 3.0], [1.0, 3.0, 5.0]) == 0.0


def test_nan_propagates() -> None:
    assert math.isnan(metrics.rmse([1.0, math.nan], [1.0, 2.0]))
    assert math.isnan(metrics.max_abs_err([math.nan], [0.0]))


def test_accuracy() -> None:
    assert metrics.accuracy([0, 1, 2, 2], [0, 2, 2, 1]) == 0.5
    assert metrics.accuracy(np.array([[1, 0], [1, 1]]), np.array([[1, 1], [1, 1]])) == 0.75


@pytest.mark.parametrize(
    ("pred", "true", "p", "r", "f"),
    [
        # TP 2 (positions 0, 4), FP 1 (1), FN 1 (2).
        ([1, 1, 0, 0, 1], [1, 0, 1, 0, 1], 2 / 3, 2 / 3, 4 / 6),
        # TP 1, FP 0, FN 2: F1 = 2/(2+0+2) = 0.5 = 2PR/(P+R) with P = 1, R = 1/3.
        ([1, 0, 0, 0], [1, 1, 1, 0], 1.0, 1 / 3, 0.5),
        # Nothing predicted, nothing there: no way to be wrong.
        ([0, 0, 0], [0, 0, 0], 1.0, 1.0, 1.0),
        # Anomalies missed, none flagged: precision is 0/0 -> 1, recall 0, F1 0.
        ([0, 0, 0], [0, 1, 1], 1.0, 0.0, 0.0),
        # False alarms on a clean stretch: recall is 0/0 -> 1, precision 0, F1 0.
        ([1, 0, 1], [0, 0, 0], 0.0, 1.0, 0.0),
    ],
    ids=["mixed", "missed-two", "all-clear", "all-missed", "false-alarms"],
)
def test_precision_recall_f1(pred: list[int], true: list[int], p: float, r: float, f: float) -> None:
    assert metrics.precision(pred, true) == pytest.approx(p)
    assert metrics.recall(pred, true) == pytest.approx(r)
    assert metrics.f1(pred, true) == pytest.approx(f)
    as_bool = (np.array(pred, dtype=bool), np.array(true, dtype=bool))
    assert metrics.f1(*as_bool) == pytest.approx(f)


def test_zero_division_can_be_chosen() -> None:
    assert metrics.precision([0, 0], [0, 1], zero_division=0.0) == 0.0
    assert metrics.recall([1, 0], [0, 0], zero_division=0.0) == 0.0
    assert metrics.f1([0, 0], [0, 0], zero_division=0.0) == 0.0


def test_non_binary_labels_are_refused() -> None:
    with pytest.raises(ValueError, match=r"binary labels .* 0, 1, 2"):
        metrics.precision([0, 1, 2], [0, 1, 1])
    with pytest.raises(ValueError, match="y_true"):
        metrics.recall([0, 1, 1], [0.0, 0.5, 1.0])


def test_error_per_step_by_hand() -> None:
    pred = np.array([[1.0, -2.0, 0.0], [3.0, 0.0, -4.0]])  # [N=2, T=3]
    true = np.zeros_like(pred)
    np.testing.assert_allclose(metrics.error_per_step(pred, true), [2.0, 1.0, 2.0])
    np.testing.assert_allclose(metrics.error_per_step(pred, true, "rmse"), [math.sqrt(5), math.sqrt(2), math.sqrt(8)])
    np.testing.assert_allclose(metrics.error_per_step(pred, true, "max_abs"), [3.0, 2.0, 4.0])
    # [N=1, T=2, F=2]: each step reduces over samples and features.
    deep = np.array([[[1.0, -1.0], [2.0, 4.0]]])
    np.testing.assert_allclose(metrics.error_per_step(deep, np.zeros_like(deep)), [1.0, 3.0])
    with pytest.raises(ValueError, match=r"\[N, T, ...\]"):
        metrics.error_per_step([1.0, 2.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="reduce"):
        metrics.error_per_step(pred, true, "median")


ALL = [
    metrics.max_abs_err,
    metrics.rmse,
    metrics.mae,
    metrics.l2r,
    metrics.cos,
    metrics.nse,
    metrics.accuracy,
    metrics.precision,
    metrics.recall,
    metrics.f1,
    metrics.error_per_step,
]


@pytest.mark.parametrize("fn", ALL, ids=[f.__name__ for f in ALL])
def test_shape_mismatch_names_both_shapes(fn) -> None:
    # [3] against [3, 1] would broadcast to [3, 3] if allowed.
    with pytest.raises(ValueError) as err:
        fn(np.zeros((3, 1)), np.zeros(3))
    assert "(3, 1)" in str(err.value) and "(3,)" in str(err.value)


@pytest.mark.parametrize("fn", ALL[:7], ids=[f.__name__ for f in ALL[:7]])
def test_empty_input_is_refused(fn) -> None:
    with pytest.raises(ValueError, match="empty"):
        fn([], [])
