"""The study models the HIL suite, the kernel tests and ``python -m harness bench`` share, trained on shipped data.

- The IMU classifier is the gesture study's dense network, 180 -> 50 -> 15 -> classes, on BasicMotions windows of
  30 steps x 6 channels flattened in time order (``ClassificationData.flat()``, the order a device receives a
  stream in). The study reported 91.67 % validation accuracy on its own data (``STUDY_ACCURACY``);
  ``imu_classifier()`` trains ours and reports its accuracy on the archive's test cases, which nothing here is
  tuned on.
- The electricity LSTM forecasts the next hour of load from 24 (the manifest's task).

Both are trained once per process with the numpy references (deterministic per seed) and cached.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from harness import datasets
from harness.models import lstm, lstm_train
from harness.models.dense import MlpModel, MlpTrainConfig, accuracy, train
from harness.models.lstm import LstmModel

__all__ = [
    "STUDY_ACCURACY",
    "ElectricityLstm",
    "ImuClassifier",
    "ImuData",
    "electricity_lstm",
    "imu_classifier",
    "imu_data",
]

STUDY_ACCURACY = 0.9167  # the gesture study's validation accuracy, on its own recordings


@dataclass(frozen=True, eq=False)
class ImuData:
    """BasicMotions windows flattened to ``[N, 180]`` float32: ``train`` from the archive's training cases, ``val``
    from its test cases (standardised with the training cases' statistics)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    class_names: tuple[str, ...]


def imu_data(window: int = 30, stride: int = 10) -> ImuData:
    task = datasets.ClassificationTask(datasets.load_cases("basic_motions"), window=window, stride=stride)
    train_w, val_w = task.windows("train"), task.windows("test")
    return ImuData(
        x_train=train_w.flat().astype(np.float32),
        y_train=train_w.y,
        x_val=val_w.flat().astype(np.float32),
        y_val=val_w.y,
        class_names=train_w.class_names,
    )


@dataclass(frozen=True, eq=False)
class ImuClassifier:
    model: MlpModel
    data: ImuData
    val_accuracy: float
    history: list[float] = field(repr=False)


@functools.cache
def imu_classifier(seed: int = 0, hidden: tuple[int, ...] = (50, 15)) -> ImuClassifier:
    """The gesture study's network trained on BasicMotions; cached (a few seconds, deterministic per seed).
    The result is shared between callers: copy the model before changing it."""
    data = imu_data()
    model = MlpModel.random([data.x_train.shape[1], *hidden, len(data.class_names)], seed=seed)
    trained, history = train(model, data.x_train, data.y_train, MlpTrainConfig(seed=seed))
    return ImuClassifier(trained, data, accuracy(trained, data.x_val, data.y_val), history)


@dataclass(frozen=True, eq=False)
class ElectricityLstm:
    """LSTM(32) forecasting the next hour of electricity load from 24 hours (the manifest's task), trained with the
    numpy BPTT reference; windows are min-max scaled, RMSE is in those units."""

    model: LstmModel
    x_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    val_rmse: float


@functools.cache
def electricity_lstm(seed: int = 0, hidden: int = 32, steps: int = 600) -> ElectricityLstm:
    """Trained once per process (deterministic, ~3 s); shared between callers: copy before changing it."""
    task = datasets.ForecastTask.from_manifest(datasets.load("electricity_hourly"))
    train_w = task.windows("train")
    val_w = task.windows("val", limit=1000, spacing="even")
    model = LstmModel.random(train_w.X.shape[2], [hidden], 1, seed=seed)
    flat = lstm_train.flatten(model)
    opt = lstm_train.Adam(lr=5e-3)
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        idx = rng.integers(0, len(train_w.X), 64)
        flat = lstm_train.train_step(flat, train_w.X[idx], train_w.y[idx], optimizer=opt, like=model, clip=1.0).params
    trained = lstm_train.unflatten(model, flat)
    pred = lstm.forward(trained, val_w.X)
    rmse = float(np.sqrt(np.mean((pred - val_w.y) ** 2)))
    x_calib = task.windows("train", limit=256, spacing="even").X
    return ElectricityLstm(trained, x_calib, val_w.X, val_w.y, rmse)
