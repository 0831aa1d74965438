"""electricity_hourly: the vendored file, its invalid daylight-saving hours, the 70/15/15 split and the 24 h -> 1 h
forecasting task, checked against the raw CSV read with the csv module."""

from __future__ import annotations

import csv
import datetime
import itertools

import numpy as np
import pandas as pd
import pytest

from harness import datasets
from harness.datasets import REPO_DATASETS, ForecastTask

FOLDER = REPO_DATASETS / "electricity_hourly"
CSV = FOLDER / "hourly_electricity.csv"


@pytest.fixture(scope="module")
def ds(vendored) -> datasets.Dataset:
    return vendored("electricity_hourly")


@pytest.fixture(scope="module")
def raw() -> tuple[list[datetime.datetime], np.ndarray]:
    """Times and loads read with the csv module, independently of pandas and of harness.datasets."""
    with CSV.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    times = [datetime.datetime.strptime(r["ts"], "%Y-%m-%d %H:%M:%S") for r in rows]
    return times, np.array([float(r["y"]) for r in rows])


def test_vendored_file_is_the_one_datasets_md_lists(vendored_sha256) -> None:
    recorded, actual = vendored_sha256("electricity_hourly")[CSV.name]
    assert actual == recorded
    assert actual.startswith("e6f19f38") and actual.endswith("e115d99")


def test_load_matches_the_raw_file(ds: datasets.Dataset, raw) -> None:
    times, load = raw
    with CSV.open(encoding="utf-8") as fh:
        assert fh.readline().strip() == "ts,y"  # the manifest declares exactly these two columns
    assert len(ds) == len(times) == 26304
    assert ds.numeric_columns == ("y",) and ds.unit("y") == "kW"
    assert ds.time[0] == pd.Timestamp(times[0]) and ds.time[-1] == pd.Timestamp(times[-1])
    assert all(b - a == datetime.timedelta(hours=1) for a, b in itertools.pairwise(times))
    assert ds.segment_starts.size == 0 and ds.runs() == [(0, len(times))]
    # Every reading but the invalid ones is the file's value, unchanged.
    kept = ~ds.filled["y"].to_numpy()
    np.testing.assert_array_equal(ds.values(["y"])[kept, 0], load[kept])


def test_invalid_hours_are_the_daylight_saving_hours_and_are_interpolated(ds: datasets.Dataset, raw) -> None:
    times, load = raw
    invalid = np.flatnonzero(ds.filled["y"].to_numpy())
    assert invalid.size == 6
    for i in invalid:
        t = times[i]
        # 01:00 on the last Sunday of March or October, when Portugal changes clocks.
        assert (t.month, t.hour, t.weekday()) in ((3, 1, 6), (10, 1, 6)) and t.day > 31 - 7
        before, after = load[i - 1], load[i + 1]
        if t.month == 3:
            assert load[i] < 0.1 * min(before, after)  # the hour that did not exist reads (nearly) nothing
        else:
            assert load[i] > 1.5 * max(before, after)  # the repeated hour holds two hours' consumption
        assert ds.values(["y"])[i, 0] == pytest.approx((before + after) / 2)


def test_split_is_chronological_70_15_15(ds: datasets.Dataset) -> None:
    n = len(ds)
    assert ds.split_bounds == {
        "train": (0, n * 70 // 100),
        "val": (n * 70 // 100, n * 85 // 100),
        "test": (n * 85 // 100, n),
    }
    assert [hi - lo for lo, hi in ds.split_bounds.values()] == [18412, 3946, 3946]


def test_task_24_hours_to_the_next(ds: datasets.Dataset, raw) -> None:
    times, load = raw
    task = ForecastTask.from_manifest(ds)
    assert (task.features, task.target, task.window, task.horizon) == (("y",), "y", 24, 1)
    for split, (lo, hi) in ds.split_bounds.items():
        assert task.starts(split).tolist() == list(range(lo, hi - 24))
    w = task.windows("test", limit=5, spacing="even")
    assert w.X.shape == (5, 24, 1) and w.y.shape == (5, 1) and w.X.dtype == np.float32
    for k, start in enumerate(w.start):
        assert w.target_time[k] == pd.Timestamp(times[start + 24])
        assert task.scaler.inverse(w.y[k], ["y"])[0] == pytest.approx(load[start + 24], rel=1e-6)
        np.testing.assert_allclose(task.scaler.inverse(w.X[k], ["y"])[:, 0], load[start : start + 24], rtol=1e-6)


def test_scaler_is_fitted_on_training_rows_without_the_invalid_hours(ds: datasets.Dataset, raw) -> None:
    _, load = raw
    task = ForecastTask.from_manifest(ds)
    lo, hi = ds.split_bounds["train"]
    valid = ~ds.filled["y"].to_numpy()[lo:hi]
    assert task.scaler.min[0] == load[lo:hi][valid].min()
    assert task.scaler.max[0] == load[lo:hi][valid].max()
    # The raw training minimum is a daylight-saving artefact; with it the scale would start near zero.
    assert load[lo:hi].min() < 100 < 1000 < task.scaler.min[0]
    train_windows = task.windows("train")
    assert train_windows.X.min() >= 0.0 and train_windows.X.max() <= 1.0
    # Christmas 2014 (test split) dips below anything in training: test inputs leave [0, 1], as a deployed model's do.
    assert load[ds.split_bounds["test"][0] :].min() < task.scaler.min[0]
    assert task.windows("test").X.min() < 0.0


def test_windows_whose_target_was_filled_are_left_out_of_scoring_and_counted(ds) -> None:
    task = ForecastTask.from_manifest(ds)
    scored, kept = task.windows("test"), task.windows("test", filled_targets="keep")
    # the test split holds one filled hour (2014-10-26 01:00, an invalid daylight-saving reading)
    assert (scored.left_out_filled, len(kept) - len(scored)) == (1, 1)
    left_out = sorted(set(kept.target_time) - set(scored.target_time))
    assert left_out == [pd.Timestamp("2014-10-26T01:00:00")]
    assert not ds.filled["y"].to_numpy()[scored.target_row].any()
    assert "1 left out: their target 'y' is a filled value" in scored.describe()
    # training keeps them by default (the manifest's fill_reason is why they may be learned from)
    train = task.windows("train")
    assert train.left_out_filled == 0 and ds.filled["y"].to_numpy()[train.target_row].any()
    # limit picks its windows first: those kept are the same as without the rule
    picked = task.windows("test", limit=400, spacing="even", filled_targets="keep")
    scored_picks = task.windows("test", limit=400, spacing="even")
    expect = picked.start[~ds.filled["y"].to_numpy()[picked.target_row]]
    np.testing.assert_array_equal(scored_picks.start, expect)
    with pytest.raises(datasets.WindowError, match='filled_targets must be "drop" or "keep"'):
        task.windows("test", filled_targets="skip")
