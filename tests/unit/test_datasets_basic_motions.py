"""basic_motions and the sktime-ts format: the .ts parser against cases parsed here by hand, the archive's split,
per-channel standardisation fitted on train only, sub-windows, and a user's own .ts dataset."""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import pytest

from harness import datasets
from harness.datasets import (
    REPO_DATASETS,
    ClassificationTask,
    DataFormatError,
    DatasetKindError,
    ManifestError,
    StandardScaler,
    WindowError,
)

FOLDER = REPO_DATASETS / "basic_motions"
FILES = {"train": FOLDER / "BasicMotions_TRAIN.ts", "test": FOLDER / "BasicMotions_TEST.ts"}


@pytest.fixture(scope="module")
def ds(vendored) -> datasets.CaseDataset:
    return vendored("basic_motions")


def _raw_cases(path: Path) -> tuple[list[str], list[str]]:
    """The header's class names and the case lines after @data, found with plain string handling."""
    lines = path.read_text(encoding="utf-8").splitlines()
    class_line = next(line for line in lines if line.lower().startswith("@classlabel"))
    data_at = next(i for i, line in enumerate(lines) if line.strip().lower() == "@data")
    return class_line.split()[2:], [line for line in lines[data_at + 1 :] if line.strip()]


def _parse_case(line: str) -> tuple[np.ndarray, str]:
    *channels, label = line.split(":")
    return np.array([[float(v) for v in c.split(",")] for c in channels]).T, label  # [T, C]


def test_vendored_files_are_the_ones_datasets_md_lists(vendored_sha256) -> None:
    shas = vendored_sha256("basic_motions")
    assert sorted(shas) == sorted(path.name for path in FILES.values())
    recorded = {split: shas[path.name][0] for split, path in FILES.items()}
    actual = {split: shas[path.name][1] for split, path in FILES.items()}
    assert actual == recorded
    assert actual["train"].startswith("8dc43cc6") and actual["train"].endswith("8b9d6")
    assert actual["test"].startswith("79213102") and actual["test"].endswith("f8dc")


@pytest.mark.parametrize("split", ["train", "test"])
def test_cases_read_back_against_the_raw_file(ds: datasets.CaseDataset, split: str) -> None:
    header_classes, lines = _raw_cases(FILES[split])
    data = ds.split(split)
    assert data.X.shape == (len(lines), 100, 6) == (40, 100, 6) and data.X.dtype == np.float32
    assert data.class_names == tuple(header_classes) == ("Standing", "Running", "Walking", "Badminton")
    labels = [line.rsplit(":", 1)[1] for line in lines]
    assert (
        data.class_counts()
        == {name: labels.count(name) for name in header_classes}
        == dict.fromkeys(header_classes, 10)
    )
    assert [data.class_names[k] for k in data.y] == labels
    for k in (0, 17, len(lines) - 1):
        values, label = _parse_case(lines[k])
        np.testing.assert_array_equal(data.X[k], values.astype(np.float32))
        assert data.class_names[data.y[k]] == label
    assert data.channels == ("acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z")
    assert data.units == ("undocumented",) * 6 and ds.units == data.units
    assert data.interval is not None and data.interval.total_seconds() == 0.1
    assert data.case.tolist() == list(range(40)) and not data.offset.any() and data.split == split


def test_wrong_loader_names_the_right_one() -> None:
    with pytest.raises(DatasetKindError, match=r"load_cases\('basic_motions'\)"):
        datasets.load("basic_motions")
    assert isinstance(datasets.load_any("basic_motions"), datasets.CaseDataset)


def test_standardisation_is_fitted_on_the_training_cases_only(ds: datasets.CaseDataset) -> None:
    task = ClassificationTask.from_manifest(ds)
    train64 = ds.train.X.astype(np.float64).reshape(-1, 6)
    np.testing.assert_allclose(task.scaler.mean, train64.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(task.scaler.std, train64.std(axis=0), rtol=1e-12)
    test64 = ds.test.X.astype(np.float64).reshape(-1, 6)
    assert not np.allclose(task.scaler.mean, test64.mean(axis=0))  # fitting on test (or on both) would show

    train = ds.train.standardise(task.scaler).X.reshape(-1, 6)
    np.testing.assert_allclose(train.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(train.std(axis=0), 1.0, atol=1e-5)
    test = ds.test.standardise(task.scaler).X
    np.testing.assert_allclose(test[3, 7], (ds.test.X[3, 7] - task.scaler.mean) / task.scaler.std, rtol=1e-5)


def test_task_windows_30_steps_every_10(ds: datasets.CaseDataset) -> None:
    task = ClassificationTask.from_manifest(ds)
    assert (task.window, task.stride) == (30, 10)
    for split in ("train", "test"):
        w = task.windows(split)
        assert w.X.shape == (40 * 8, 30, 6) and w.flat().shape == (320, 180)
        assert w.class_counts() == dict.fromkeys(ds.class_names, 80)
        assert w.offset[:8].tolist() == [0, 10, 20, 30, 40, 50, 60, 70] and (w.case[:8] == 0).all()
        whole = ds.split(split).standardise(task.scaler).X
        for k in (0, 9, 319):
            np.testing.assert_array_equal(w.X[k], whole[w.case[k], w.offset[k] : w.offset[k] + 30])
            assert w.y[k] == ds.split(split).y[w.case[k]]


def test_flat_orders_time_major_or_channel_major(ds: datasets.CaseDataset) -> None:
    w = ds.train.windows(30, 30)
    assert len(w) == 40 * 3  # steps 0-29, 30-59, 60-89; the last 10 steps make no whole window
    flat = w.flat()
    k, t, c = 5, 11, 4
    assert flat[k, t * 6 + c] == w.X[k, t, c]
    assert w.flat("channel")[k, c * 30 + t] == w.X[k, t, c]
    with pytest.raises(WindowError, match="longer than the 100 steps"):
        ds.train.windows(101)
    with pytest.raises(WindowError):
        ds.train.windows(30, 0)


# ---------------------------------------------------------------------------------------------- a user's own .ts

TS_TRAIN = """\
# two channels, four steps
@problemName Toy
@timeStamps false
@missing false
@univariate false
@dimensions 2
@equalLength true
@seriesLength 4
@classLabel true up down
@data
1,2,3,4:10,20,30,40:up
4,3,2,1:40,30,20,10:down
0.5,1.5,2.5,3.5:5,15,25,35:up
"""

TS_TEST = TS_TRAIN.replace("1,2,3,4:10,20,30,40:up\n4,3,2,1:40,30,20,10:down\n0.5,1.5,2.5,3.5:5,15,25,35:up\n", "")
TS_TEST += "9,8,7,6:1,1,1,1:down\n"

TS_MANIFEST = """\
format = "sktime-ts"

[[files]]
path = "toy_TRAIN.ts"
sha256 = "{sha256:toy_TRAIN.ts}"
split = "train"
cases = 3

[[files]]
path = "toy_TEST.ts"
sha256 = "{sha256:toy_TEST.ts}"
split = "test"

[series]
interval = "20ms"
length = 4

[classes]
names = ["down", "up"]

[[channels]]
name = "tilt"
unit = "deg"

[[channels]]
name = "force"
unit = "N"

[task]
kind = "classification"
window = 2
stride = 2
"""


TS_FILES = {"toy_TRAIN.ts": TS_TRAIN, "toy_TEST.ts": TS_TEST}


def test_user_ts_dataset_loads_without_code_changes(make_dataset) -> None:
    make_dataset("toy", TS_MANIFEST, TS_FILES)
    assert "toy" in datasets.available()
    toy = datasets.load_cases("toy")
    # [classes] names order decides the integers: down = 0, up = 1, whatever order the file lists them in.
    assert toy.class_names == ("down", "up")
    assert toy.train.y.tolist() == [1, 0, 1] and toy.test.y.tolist() == [0]
    assert toy.train.X.shape == (3, 4, 2) and toy.channels == ("tilt", "force") and toy.units == ("deg", "N")
    np.testing.assert_array_equal(toy.train.X[1], [[4, 40], [3, 30], [2, 20], [1, 10]])
    assert toy.train.class_counts() == {"down": 1, "up": 2}

    task = ClassificationTask.from_manifest(toy)
    # tilt over the 12 training steps: 1..4, 4..1, 0.5..3.5 -> mean (10 + 10 + 8) / 12.
    assert task.scaler.mean[0] == pytest.approx(28 / 12)
    w = task.windows("test")
    assert w.X.shape == (2, 2, 2) and w.offset.tolist() == [0, 2] and w.case.tolist() == [0, 0]
    np.testing.assert_allclose(w.X[1, :, 0], (np.array([7.0, 6.0]) - 28 / 12) / task.scaler.std[0], rtol=1e-6)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda m: m.replace("cases = 3", "cases = 4"), "has 3 cases but the manifest declares cases = 4"),
        (lambda m: m.replace('[[channels]]\nname = "force"\nunit = "N"\n', ""), "2 channels but"),
        (lambda m: m.replace('names = ["down", "up"]', 'names = ["down", "sideways"]'), "@classLabel names"),
        (lambda m: m.replace("length = 4", "length = 5"), "length = 5"),
        (lambda m: m.replace('split = "test"', 'split = "train"'), "one \\[\\[files\\]\\] entry per split"),
    ],
    ids=["case-count", "channel-count", "class-names", "length", "split-twice"],
)
def test_user_ts_manifest_mistakes_are_named(make_dataset, edit, expected: str) -> None:
    manifest = edit(TS_MANIFEST)
    assert manifest != TS_MANIFEST
    make_dataset("toy", manifest, TS_FILES)
    with pytest.raises(ManifestError, match=expected):
        datasets.load_cases("toy")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (TS_TRAIN.replace("@data\n", ""), "expected a @key header line"),
        (TS_TRAIN.replace("10,20,30,40:up", "10,20,30,40:left"), "label 'left'"),
        (TS_TRAIN.replace("1,2,3,4:", "1,?,3,4:"), "missing values"),
        (TS_TRAIN.replace("1,2,3,4:", "1,2,3:"), "different lengths"),
        (TS_TRAIN.replace("@seriesLength 4", "@seriesLength 5"), "@serieslength says 5"),
        (TS_TRAIN.replace("@equalLength true", "@equalLength false"), "unequal length"),
        (TS_TRAIN.replace("@classLabel true up down", "@classLabel false"), "class labels"),
    ],
    ids=["no-data", "unknown-label", "missing-value", "ragged", "series-length", "unequal", "unlabelled"],
)
def test_read_ts_rejects_what_it_cannot_read(tmp_path: Path, body: str, expected: str) -> None:
    assert body != TS_TRAIN
    path = tmp_path / "bad.ts"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(DataFormatError, match=expected):
        datasets.read_ts(path)


def test_read_ts_on_the_vendored_header() -> None:
    ts = datasets.read_ts(FILES["train"])
    assert ts.problem == "BasicMotions" and ts.header["dimensions"] == "6"
    assert collections.Counter(ts.labels) == dict.fromkeys(ts.class_labels, 10)


def test_standard_scaler_fits_lists_and_keeps_constant_channels_finite() -> None:
    a = np.array([[1.0, 5.0], [3.0, 5.0]])
    b = np.array([[5.0, 5.0]])
    scaler = StandardScaler.fit([a, b], ["x", "k"])
    assert scaler.mean.tolist() == [3.0, 5.0]
    assert scaler.std[0] == pytest.approx(np.sqrt(8 / 3)) and scaler.std[1] == 1.0
    np.testing.assert_allclose(scaler.inverse(scaler.transform(a)), a)
