"""Dataset loading, integrity checks and forecasting windows, on the vendored Beijing file and on user datasets."""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness import datasets
from harness.datasets import (
    REPO_DATASETS,
    DatasetIntegrityError,
    DatasetNotFoundError,
    ForecastTask,
    ManifestError,
    UnknownColumnError,
    WindowError,
)

BEIJING_DIR = REPO_DATASETS / "beijing_pm"
BEIJING_CSV = BEIJING_DIR / "hourly_beijing_pm.csv"
FEATURES = ["pm2.5", "DEWP", "TEMP", "PRES", "Iws", "Is", "Ir"]


@pytest.fixture(scope="module")
def beijing(vendored) -> datasets.Dataset:
    return vendored("beijing_pm")


@pytest.fixture(scope="module")
def task(beijing: datasets.Dataset) -> ForecastTask:
    return ForecastTask.from_manifest(beijing)


@pytest.fixture(scope="module")
def raw_rows() -> list[dict[str, str]]:
    """The vendored CSV read with the csv module, independently of pandas and of harness.datasets."""
    with BEIJING_CSV.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------------------------------------ vendored data


def test_vendored_file_is_the_one_datasets_md_lists(vendored_sha256) -> None:
    recorded, actual = vendored_sha256("beijing_pm")[BEIJING_CSV.name]
    assert actual == recorded
    # DATASETS.md gives the sha256 of the shared copy as prefix…suffix.
    assert actual.startswith("4127f868") and actual.endswith("c6d27f1c")


def test_load_beijing(beijing: datasets.Dataset, raw_rows: list[dict[str, str]]) -> None:
    assert len(beijing) == len(raw_rows)
    assert beijing.numeric_columns == tuple(FEATURES)
    assert beijing.categorical_columns == ("cbwd",)
    assert beijing.unit("pm2.5") == "µg/m³" and beijing.unit("TEMP") == "°C" and beijing.unit("PRES") == "hPa"
    first, last = raw_rows[0], raw_rows[-1]
    assert beijing.time[0] == pd.Timestamp(
        int(first["year"]), int(first["month"]), int(first["day"]), int(first["hour"])
    )
    assert beijing.time[-1] == pd.Timestamp(int(last["year"]), int(last["month"]), int(last["day"]), int(last["hour"]))
    assert (np.diff(beijing.time.to_numpy()) == np.timedelta64(1, "h")).all()
    assert beijing.segment_starts.size == 0
    assert not beijing.frame[list(FEATURES)].isna().any().any()
    temp = np.array([float(r["TEMP"]) for r in raw_rows])
    np.testing.assert_array_equal(beijing.values(["TEMP"])[:, 0], temp)
    assert list(beijing.frame["cbwd"].astype(str)[:3]) == [r["cbwd"] for r in raw_rows[:3]]


def test_pm25_gaps_are_filled_linearly_then_from_the_edge(
    beijing: datasets.Dataset, raw_rows: list[dict[str, str]]
) -> None:
    missing = np.array([r["pm2.5"] == "NA" for r in raw_rows])
    np.testing.assert_array_equal(beijing.filled["pm2.5"].to_numpy(), missing)
    assert not beijing.filled["TEMP"].any()
    pm = beijing.values(["pm2.5"])[:, 0]

    # The file opens with a run of NA hours: they take the first reading after the run.
    lead = int(np.argmin(missing))
    assert lead > 0
    np.testing.assert_array_equal(pm[:lead], float(raw_rows[lead]["pm2.5"]))

    # A one-hour gap between two readings gets their mean; a two-hour gap gets the thirds.
    single = next(
        i for i in range(lead + 1, len(raw_rows) - 1) if missing[i] and not missing[i - 1] and not missing[i + 1]
    )
    before, after = float(raw_rows[single - 1]["pm2.5"]), float(raw_rows[single + 1]["pm2.5"])
    assert pm[single] == pytest.approx((before + after) / 2)
    double = next(
        i
        for i in range(lead + 1, len(raw_rows) - 2)
        if missing[i] and missing[i + 1] and not missing[i - 1] and not missing[i + 2]
    )
    before, after = float(raw_rows[double - 1]["pm2.5"]), float(raw_rows[double + 2]["pm2.5"])
    assert pm[double] == pytest.approx(before + (after - before) / 3)
    assert pm[double + 1] == pytest.approx(before + 2 * (after - before) / 3)


def test_split_is_chronological_70_15_15(beijing: datasets.Dataset) -> None:
    n = len(beijing)
    assert beijing.split_bounds == {
        "train": (0, n * 70 // 100),
        "val": (n * 70 // 100, n * 85 // 100),
        "test": (n * 85 // 100, n),
    }
    train, val, test = (beijing.split(s) for s in ("train", "val", "test"))
    assert train.index.max() < val.index.min() and val.index.max() < test.index.min()
    assert len(train) + len(val) + len(test) == n


# ----------------------------------------------------------------------------------------- discovery, integrity


def test_unknown_dataset_lists_available() -> None:
    with pytest.raises(DatasetNotFoundError) as err:
        datasets.load("no_such_data")
    assert "beijing_pm" in str(err.value) and "no_such_data" in str(err.value)


def test_dataset_name_cannot_walk_out_of_the_search_path() -> None:
    with pytest.raises(DatasetNotFoundError):
        datasets.load("../datasets/beijing_pm")


def test_user_copy_shadows_vendored_and_passes_sha(user_datasets: Path) -> None:
    shutil.copytree(BEIJING_DIR, user_datasets / "beijing_pm")
    ds = datasets.load("beijing_pm")
    assert ds.directory == user_datasets / "beijing_pm"


def test_tampered_copy_fails_sha_check(user_datasets: Path) -> None:
    copy = user_datasets / "beijing_pm"
    shutil.copytree(BEIJING_DIR, copy)
    data = copy / "hourly_beijing_pm.csv"
    text = data.read_text(encoding="utf-8")
    # Same length, one temperature changed: the kind of edit a sha256 must catch and a row count would not.
    tampered = text.replace("\n2,2010,1,1,1,NA,-21,-12,", "\n2,2010,1,1,1,NA,-21,-13,", 1)
    assert tampered != text
    data.write_text(tampered, encoding="utf-8")
    with pytest.raises(DatasetIntegrityError) as err:
        datasets.load("beijing_pm")
    message = str(err.value)
    assert _sha256(data) in message and _sha256(BEIJING_CSV) in message
    assert "restore" in message


USER_CSV = """\
timestamp,level,flow,state
2024-01-01T00:00:00,0,10.5,ok
2024-01-01T00:10:00,1,11.5,ok
2024-01-01T00:20:00,2,12.5,ok
2024-01-01T00:30:00,,13.5,ok
2024-01-01T01:20:00,8,14.5,alarm
2024-01-01T01:30:00,9,15.5,ok
2024-01-01T01:40:00,10,16.5,ok
2024-01-01T01:50:00,11,17.5,ok
2024-01-01T02:00:00,12,18.5,ok
2024-01-01T02:10:00,13,19.5,ok
2024-01-01T02:20:00,14,20.5,ok
2024-01-01T02:30:00,15,21.5,ok
2024-01-01T02:40:00,16,22.5,ok
2024-01-01T02:50:00,17,23.5,ok
2024-01-01T03:00:00,18,24.5,ok
2024-01-01T03:10:00,19,25.5,ok
"""

USER_MANIFEST = """\
title = "tank level, a user's own test data"

[file]
path = "tank.csv"
sha256 = "{sha256:tank.csv}"
rows = 16
na_values = [""]

[time]
column = "timestamp"
interval = "10min"

[split]
method = "chronological"
train = 0.5
val = 0.25
test = 0.25

[task]
kind = "forecast"
features = ["level", "flow"]
target = "level"
window = 2
horizon = 1

[[columns]]
name = "timestamp"
kind = "time"

[[columns]]
name = "level"
kind = "numeric"
unit = "cm"
missing = 1
fill = "interpolate"
fill_reason = "one reading lost to a logger restart"

[[columns]]
name = "flow"
kind = "numeric"
unit = "l/s"

[[columns]]
name = "state"
kind = "categorical"
"""


def test_user_dataset_loads_without_code_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_dataset) -> None:
    make_dataset("tank", USER_MANIFEST, {"tank.csv": USER_CSV}, root=tmp_path / "mine")
    monkeypatch.setenv(datasets.ENV_VAR, os.pathsep.join([str(tmp_path / "elsewhere"), str(tmp_path / "mine")]))
    vendored = {m.parent.name for m in (REPO_DATASETS).glob("*/manifest.toml")}
    assert "beijing_pm" in vendored and "tank" not in vendored
    assert datasets.available() == sorted({*vendored, "tank"})
    ds = datasets.load("tank")
    assert ds.numeric_columns == ("level", "flow") and ds.categorical_columns == ("state",)
    assert ds.unit("flow") == "l/s"
    assert ds.time[4] == pd.Timestamp("2024-01-01T01:20:00")
    level = ds.values(["level"])[:, 0]
    # The lost 00:30 reading lies between 2 (00:20) and 8 (01:20): 10 of 60 minutes along, 2 + 6/6 = 3.
    # Interpolating by row number instead would give 5.
    assert level[3] == pytest.approx(3.0)
    assert ds.filled["level"].tolist() == [False, False, False, True] + [False] * 12
    assert ds.frame["state"].iloc[4] == "alarm"
    # The 50-minute jump after row 3 is a gap, and a window must not span it.
    assert ds.segment_starts.tolist() == [4]


def test_user_task_windows_respect_the_time_gap(make_dataset) -> None:
    make_dataset("tank", USER_MANIFEST, {"tank.csv": USER_CSV})
    task = ForecastTask.from_manifest(datasets.load("tank"))
    # train = rows 0..7 with a gap before row 4: runs 0..3 and 4..7, each fits starts 0,1 and 4,5 for span 3.
    assert task.starts("train").tolist() == [0, 1, 4, 5]
    assert task.starts("val").tolist() == [8, 9]
    w = task.windows("train")
    assert w.X.shape == (4, 2, 2) and w.y.shape == (4, 1)
    # Scaler: level over train rows 0..7 is 0,1,2,3(filled),8,9,10,11 -> min 0, max 11.
    assert task.scaler.min.tolist() == [0.0, 10.5] and task.scaler.max.tolist() == [11.0, 17.5]
    np.testing.assert_allclose(w.y[:, 0], np.array([2.0, 3.0, 10.0, 11.0]) / 11.0, rtol=1e-6)
    # stride counts rows from the split's start, so only row 0 of the valid starts 0, 1, 4, 5 is a multiple of 3.
    assert task.windows("train", stride=3).start.tolist() == [0]
    assert task.windows("train", stride=2).start.tolist() == [0, 4]


def test_manifest_without_sha_says_what_to_add(make_dataset) -> None:
    manifest = USER_MANIFEST.replace('sha256 = "{sha256:tank.csv}"\n', "")
    assert manifest != USER_MANIFEST
    folder = make_dataset("tank", manifest, {"tank.csv": USER_CSV})
    with pytest.raises(ManifestError) as err:
        datasets.load("tank")
    assert f'sha256 = "{_sha256(folder / "tank.csv")}"' in str(err.value)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda m: m.replace('[[columns]]\nname = "state"\nkind = "categorical"\n', ""), "not declared: ['state']"),
        (lambda m: m.replace("rows = 16", "rows = 15"), "has 16 data rows"),
        (lambda m: m.replace("missing = 1\n", "missing = 2\n"), "has 1 missing values, manifest says 2"),
        (lambda m: m.replace('fill = "interpolate"\n', ""), "declares no fill"),
        (lambda m: m.replace("test = 0.25", "test = 0.30"), "exactly 1"),
        (lambda m: m.replace('fill_reason = "one reading lost to a logger restart"\n', ""), "fill_reason"),
    ],
    ids=["undeclared-column", "row-count", "missing-count", "no-fill", "split-sum", "no-fill-reason"],
)
def test_manifest_mistakes_are_named(make_dataset, edit, expected: str) -> None:
    manifest = edit(USER_MANIFEST)
    assert manifest != USER_MANIFEST
    make_dataset("tank", manifest, {"tank.csv": USER_CSV})
    with pytest.raises(ManifestError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        datasets.load("tank")


# ----------------------------------------------------------------------------------------------------- windows


def test_window_counts_and_shapes(beijing: datasets.Dataset, task: ForecastTask) -> None:
    for split, (lo, hi) in beijing.split_bounds.items():
        # One window per start from lo up to the last that leaves 168 inputs + 1 target inside the split.
        assert task.starts(split).tolist() == list(range(lo, hi - 168))
    w = task.windows("val", limit=3)
    assert w.X.shape == (3, 168, 7) and w.X.dtype == np.float32
    assert w.features == tuple(FEATURES) and w.target == "TEMP" and w.split == "val"
    assert w.y.shape == (3, 1) and w.y.dtype == np.float32
    assert len(w) == 3


def test_no_window_crosses_a_split(beijing: datasets.Dataset, task: ForecastTask) -> None:
    for split, (lo, hi) in beijing.split_bounds.items():
        starts = task.starts(split)
        last_row = starts + task.window - 1 + task.horizon
        assert starts.min() == lo and (last_row < hi).all() and last_row.max() == hi - 1
        w = task.windows(split, stride=97, limit=40, spacing="even")
        assert ((w.start >= lo) & (w.target_row < hi)).all()


def test_scaler_is_fitted_on_the_training_split_only(beijing: datasets.Dataset, task: ForecastTask) -> None:
    lo, hi = beijing.split_bounds["train"]
    train = beijing.frame.iloc[lo:hi][FEATURES]
    np.testing.assert_array_equal(task.scaler.min, train.min().to_numpy())
    np.testing.assert_array_equal(task.scaler.max, train.max().to_numpy())
    # The whole file reaches further than its training part (DEWP goes down to -40 °C later), so a scaler fitted
    # on everything would fail the checks above.
    whole = beijing.frame[FEATURES]
    assert (whole.min().to_numpy() < task.scaler.min).any() or (whole.max().to_numpy() > task.scaler.max).any()

    scaled_train = task.scaler.transform(train.to_numpy())
    np.testing.assert_array_equal(scaled_train.min(axis=0), 0.0)
    np.testing.assert_array_equal(scaled_train.max(axis=0), 1.0)
    w_train = task.windows("train", stride=50)
    assert w_train.X.min() >= 0.0 and w_train.X.max() <= 1.0
    w_test = task.windows("test")
    assert w_test.X.min() < 0.0 or w_test.X.max() > 1.0


def test_window_inputs_are_the_scaled_rows(beijing: datasets.Dataset, task: ForecastTask) -> None:
    w = task.windows("test", limit=5, spacing="even")
    raw = beijing.values(FEATURES)
    for k, start in enumerate(w.start):
        expected = (raw[start : start + 168] - task.scaler.min) / (task.scaler.max - task.scaler.min)
        np.testing.assert_allclose(w.X[k], expected, rtol=1e-6, atol=1e-7)


def test_target_is_the_next_hour_temp(task: ForecastTask, raw_rows: list[dict[str, str]], beijing) -> None:
    lo, hi = beijing.split_bounds["train"]
    train_temp = [float(r["TEMP"]) for r in raw_rows[lo:hi]]
    t_min, t_max = min(train_temp), max(train_temp)
    by_hour = {(int(r["year"]), int(r["month"]), int(r["day"]), int(r["hour"])): float(r["TEMP"]) for r in raw_rows}
    for split in ("train", "val", "test"):
        w = task.windows(split, limit=7, spacing="even")
        for k in range(len(w)):
            last_input = beijing.time[w.start[k] + 167]
            when = w.target_time[k]
            assert when - last_input == pd.Timedelta(hours=1)
            temp = by_hour[(when.year, when.month, when.day, when.hour)]
            assert w.y[k, 0] == pytest.approx((temp - t_min) / (t_max - t_min), rel=1e-6)
    assert task.scaler.inverse(w.y[:, 0], ["TEMP"]) == pytest.approx(
        [by_hour[(t.year, t.month, t.day, t.hour)] for t in w.target_time], abs=1e-4
    )


def test_horizon_moves_the_target(beijing: datasets.Dataset) -> None:
    w = datasets.forecast_windows(beijing, FEATURES, "TEMP", window=24, horizon=6, split="val", limit=3)
    np.testing.assert_array_equal(w.target_row, w.start + 24 - 1 + 6)
    assert (w.target_time - beijing.time[w.start + 23] == pd.Timedelta(hours=6)).all()


def test_stride_and_limit(beijing: datasets.Dataset, task: ForecastTask) -> None:
    lo, hi = beijing.split_bounds["val"]
    strided = task.windows("val", stride=24, limit=10)
    assert strided.start.tolist() == [lo + 24 * i for i in range(10)]
    spread = task.windows("val", limit=4, spacing="even")
    assert spread.start[0] == lo and spread.start[-1] == hi - 169
    assert np.all(np.diff(spread.start) > 1000)
    everything = task.windows("val", stride=1000, limit=100)
    assert len(everything) == len(range(lo, hi - 168, 1000))


def test_unknown_column_lists_the_columns(beijing: datasets.Dataset) -> None:
    with pytest.raises(UnknownColumnError) as err:
        ForecastTask(beijing, ("TEMP", "humidity"), "TEMP")
    assert "'humidity'" in str(err.value)
    assert all(c in str(err.value) for c in FEATURES)
    with pytest.raises(UnknownColumnError, match="categorical: cbwd"):
        ForecastTask(beijing, ("TEMP",), "cbwd")
    with pytest.raises(WindowError, match=r"\['TEMP'\]"):
        ForecastTask(beijing, "TEMP", "TEMP")  # type: ignore[arg-type]


def test_window_longer_than_split_gives_the_split_length(beijing: datasets.Dataset) -> None:
    lo, hi = beijing.split_bounds["val"]
    task = ForecastTask(beijing, ("TEMP",), "TEMP", window=hi - lo)
    with pytest.raises(WindowError, match=f"split 'val' of 'beijing_pm' has {hi - lo} rows"):
        task.windows("val")
    assert len(task.windows("train", limit=1)) == 1


@pytest.mark.parametrize(
    "kwargs",
    [{"stride": 0}, {"limit": 0}, {"spacing": "random"}, {"split": "holdout"}],
    ids=["stride", "limit", "spacing", "split"],
)
def test_bad_window_arguments(task: ForecastTask, kwargs: dict) -> None:
    with pytest.raises(WindowError):
        task.windows(**kwargs)
