"""Comparison metrics between device outputs and reference outputs, in pure numpy.

Every function takes ``(y_pred, y_true)``: the device (or model under test) first, the reference second. Where ST's
validate-on-target report defines a metric (ACC, RMSE, MAE, L2R, COS, NSE, max error) it is computed the same
way: over all elements of the flattened arrays, in float64. Shapes must match exactly: broadcasting [N] against
[N, 1] would silently compare every prediction with every target.

Degenerate denominators (an all-zero reference, a constant reference, no positives) get a stated value rather
than a numpy warning and a nan, so a gate can be written against them.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "accuracy",
    "cos",
    "error_per_step",
    "f1",
    "l2r",
    "mae",
    "max_abs_err",
    "nse",
    "precision",
    "recall",
    "regression_report",
    "rmse",
]


def _pair(y_pred: ArrayLike, y_true: ArrayLike, *, dtype: type | None = np.float64) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(y_pred, dtype=dtype)
    true = np.asarray(y_true, dtype=dtype)
    if pred.shape != true.shape:
        raise ValueError(
            f"y_pred has shape {pred.shape} but y_true has shape {true.shape}; reshape one to match "
            "(metrics never broadcast)"
        )
    if pred.size == 0:
        raise ValueError("y_pred and y_true are empty; a metric over no values has no meaning")
    return pred, true


def max_abs_err(y_pred: ArrayLike, y_true: ArrayLike) -> float:
    """Largest ``|p - t|`` over all elements."""
    pred, true = _pair(y_pred, y_true)
    return float(np.max(np.abs(pred - true)))


def rmse(y_pred: ArrayLike, y_true: ArrayLike) -> float:
    """Root mean square error, ``sqrt(mean((p - t)^2))``."""
    pred, true = _pair(y_pred, y_true)
    return float(np.sqrt(np.mean((pred - true) ** 2)))


def mae(y_pred: ArrayLike, y_true: ArrayLike) -> float:
    """Mean absolute error, ``mean(|p - t|)``."""
    pred, true = _pair(y_pred, y_true)
    return float(np.mean(np.abs(pred - true)))


def l2r(y_pred: ArrayLike, y_true: ArrayLike) -> float:
    """Relative L2 error ``||p - t|| / ||t||``; 0.0 when both norms are zero, inf when only ``||t||`` is."""
    pred, true = _pair(y_pred, y_true)
    err = float(np.linalg.norm(pred - true))
    ref = float(np.linalg.norm(true))
    if ref == 0.0:
        return 0.0 if err == 0.0 else float("inf")
    return err / ref


def cos(y_pred: ArrayLike, y_true: ArrayLike) -> float:
    """Cosine similarity ``p·t / (||p|| ||t||)`` of the flattened arrays.

    Two all-zero arrays are identical, so 1.0; one all-zero array shares no direction with the other, so 0.0.
    """
    pred, true = _pair(y_pred, y_true)
    norm_p = float(np.linalg.norm(pred))
    norm_t = float(np.linalg.norm(true))
    if norm_p == 0.0 or norm_t == 0.0:
        return 1.0 if norm_p == norm_t else 0.0
    # Rounding can push a parallel pair a hair past 1; a similarity above 1 would confuse a ">= 0.999" gate.
    return float(np.clip(np.dot(pred.ravel(), true.ravel()) / (norm_p * norm_t), -1.0, 1.0))


def nse(y_pred: ArrayLike, y_true: ArrayLike) -> float:
    """Nash-Sutcliffe efficiency ``1 - SSE/SST`` with ``SST = sum((t - mean(t))^2)``.

    1 is a perfect match, 0 is no better than predicting the reference's mean. A constant reference has SST = 0:
    the result is 1.0 if the prediction matches it exactly and -inf otherwise.
    """
    pred, true = _pair(y_pred, y_true)
    sse = float(np.sum((pred - true) ** 2))
    sst = float(np.sum((true - np.mean(true)) ** 2))
    if sst == 0.0:
        return 1.0 if sse == 0.0 else float("-inf")
    return 1.0 - sse / sst


def accuracy(y_pred: ArrayLike, y_true: ArrayLike) -> float:
    """Fraction of labels that are equal. Pass class labels, not scores: ``argmax`` the scores first."""
    pred, true = _pair(y_pred, y_true, dtype=None)
    return float(np.mean(pred == true))


def _confusion(y_pred: ArrayLike, y_true: ArrayLike) -> tuple[int, int, int]:
    pred, true = _pair(y_pred, y_true, dtype=None)
    for label, arr in (("y_pred", pred), ("y_true", true)):
        if arr.dtype != np.bool_:
            values = np.unique(arr)
            if not np.isin(values, (0, 1)).all():
                shown = ", ".join(map(str, values[:8])) + (" ..." if values.size > 8 else "")
                raise ValueError(
                    f"{label} must hold binary labels (0/1 or bool) but has {shown}; threshold scores first"
                )
    pred_pos = pred.astype(bool)
    true_pos = true.astype(bool)
    tp = int(np.sum(pred_pos & true_pos))
    fp = int(np.sum(pred_pos & ~true_pos))
    fn = int(np.sum(~pred_pos & true_pos))
    return tp, fp, fn


def _ratio(num: int, den: int, zero_division: float) -> float:
    return zero_division if den == 0 else num / den


# The 0/0 cases of precision, recall and F1 all mean "there was nothing to get wrong": no positives predicted
# (precision), none to find (recall), or neither (F1). They default to 1.0 so a clean stretch with no anomalies and
# no alarms scores perfect; a missed anomaly still gives recall 0 and a false alarm precision 0, so F1 is 0 either way.


def precision(y_pred: ArrayLike, y_true: ArrayLike, *, zero_division: float = 1.0) -> float:
    """TP / (TP + FP) for binary labels (1 = positive, e.g. anomaly); ``zero_division`` if none is predicted."""
    tp, fp, _ = _confusion(y_pred, y_true)
    return _ratio(tp, tp + fp, zero_division)


def recall(y_pred: ArrayLike, y_true: ArrayLike, *, zero_division: float = 1.0) -> float:
    """TP / (TP + FN) for binary labels; ``zero_division`` when the reference has no positives."""
    tp, _, fn = _confusion(y_pred, y_true)
    return _ratio(tp, tp + fn, zero_division)


def f1(y_pred: ArrayLike, y_true: ArrayLike, *, zero_division: float = 1.0) -> float:
    """2TP / (2TP + FP + FN), the harmonic mean of precision and recall; ``zero_division`` if no positives at all."""
    tp, fp, fn = _confusion(y_pred, y_true)
    return _ratio(2 * tp, 2 * tp + fp + fn, zero_division)


_STEP_REDUCTIONS = ("mae", "rmse", "max_abs")


def error_per_step(y_pred: ArrayLike, y_true: ArrayLike, reduce: str = "mae") -> np.ndarray:
    """Error at each time step of [N, T, ...] arrays: float64 [T], reduced over samples and trailing axes.

    ``reduce`` is "mae" (mean |p - t|), "rmse" or "max_abs". A recurrent model whose error grows with the step
    shows a rising curve here where a single number would average it away.
    """
    if reduce not in _STEP_REDUCTIONS:
        raise ValueError(f"reduce must be one of {', '.join(_STEP_REDUCTIONS)}, got {reduce!r}")
    pred, true = _pair(y_pred, y_true)
    if pred.ndim < 2:
        raise ValueError(f"error_per_step needs arrays shaped [N, T, ...], got shape {pred.shape}")
    diff = np.moveaxis(pred - true, 1, 0).reshape(pred.shape[1], -1)
    if reduce == "mae":
        return np.mean(np.abs(diff), axis=1)
    if reduce == "rmse":
        return np.sqrt(np.mean(diff**2, axis=1))
    return np.max(np.abs(diff), axis=1)


def regression_report(y_pred: ArrayLike, y_true: ArrayLike) -> dict[str, float]:
    """Every regression metric above, keyed by function name, for writing one result row each."""
    return {fn.__name__: fn(y_pred, y_true) for fn in (max_abs_err, rmse, mae, l2r, cos, nse)}
