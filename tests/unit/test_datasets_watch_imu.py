"""watch_imu and the npz-recordings format: recordings read back against the raw arrays, the novelty split by
subject, standardisation fitted on the training recordings, windows that never span two recordings, and a user's
own .npz dataset."""

from __future__ import annotations

import io

import numpy as np
import pytest

from harness import datasets
from harness.datasets import (
    REPO_DATASETS,
    DataFormatError,
    DatasetKindError,
    ManifestError,
    NoveltyTask,
    TaskError,
    WindowError,
)

FOLDER = REPO_DATASETS / "watch_imu"
NPZ = FOLDER / "watch_dataset.npz"


@pytest.fixture(scope="module")
def ds(vendored) -> datasets.RecordingDataset:
    return vendored("watch_imu")


@pytest.fixture(scope="module")
def raw() -> dict[str, np.ndarray]:
    with np.load(NPZ, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


@pytest.fixture(scope="module")
def task(ds: datasets.RecordingDataset) -> NoveltyTask:
    return NoveltyTask.from_manifest(ds)


def test_vendored_file_is_the_one_datasets_md_lists(vendored_sha256) -> None:
    recorded, actual = vendored_sha256("watch_imu")[NPZ.name]
    assert actual == recorded
    assert actual.startswith("34f66b03") and actual.endswith("54a5faf")


def test_recordings_read_back_against_the_raw_arrays(ds: datasets.RecordingDataset, raw) -> None:
    offsets = raw["offsets"]
    assert len(ds) == len(raw["y"]) == len(offsets) - 1 == 140
    assert ds.samples.shape == raw["samples"].shape == (244102, 6)
    for i in (0, 1, 77, 139):
        np.testing.assert_array_equal(ds.recordings[i], raw["samples"][offsets[i] : offsets[i + 1]])
    assert ds.lengths.tolist() == [offsets[i + 1] - offsets[i] for i in range(140)]
    assert ds.class_names == tuple(raw["class_names"].tolist()) == ("PEN", "ABD", "FEL", "IR", "ER", "TRAP", "ROW")
    assert ds.channels == tuple(raw["channel_names"].tolist()) == ("ax", "ay", "az", "wx", "wy", "wz")
    assert ds.units == ("g",) * 3 + ("rad/s",) * 3
    assert ds.interval is not None and ds.interval.total_seconds() == 0.02
    counts = np.bincount(raw["y"], minlength=7)
    assert (
        ds.class_counts()
        == dict(zip(ds.class_names, counts.tolist(), strict=True))
        == dict.fromkeys(ds.class_names, 20)
    )
    assert ds.subjects == tuple(str(s) for s in range(1, 11))
    np.testing.assert_array_equal(ds.subject, raw["subject"])
    np.testing.assert_array_equal(ds.meta["side"], raw["side"])


def test_wrong_loader_names_the_right_one() -> None:
    with pytest.raises(DatasetKindError, match=r"load_recordings\('watch_imu'\)"):
        datasets.load("watch_imu")
    with pytest.raises(DatasetKindError, match=r"load\('water_flow'\)"):
        datasets.load_recordings("water_flow")


def test_novelty_split_never_puts_a_training_subject_in_the_test_set(task: NoveltyTask, raw) -> None:
    subject, y = raw["subject"], raw["y"]
    assert (
        task.normal_class == "FEL"
        and task.train_subjects == tuple("1234567")
        and task.test_subjects
        == (
            "8",
            "9",
            "10",
        )
    )
    train, test = task.recordings("train"), task.recordings("test")
    assert set(subject[train]).isdisjoint(subject[test])
    assert set(subject[train]) == set(task.train_subjects) and set(subject[test]) == set(task.test_subjects)
    fel = list(raw["class_names"]).index("FEL")
    assert (y[train] == fel).all() and len(train) == 14
    # The test set is every recording of the held-out subjects, every class.
    assert test.tolist() == [i for i in range(140) if subject[i] in ("8", "9", "10")] and len(test) == 42

    w_train, w_test = task.windows("train"), task.windows("test")
    assert set(w_train.subject).isdisjoint(w_test.subject)
    assert not task.is_anomaly(w_train).any()
    assert int((~task.is_anomaly(w_test)).sum()) == 258 and int(task.is_anomaly(w_test).sum()) == 1226


def test_window_counts_and_contents(task: NoveltyTask, raw) -> None:
    offsets = raw["offsets"]
    for split, expected in (("train", 522), ("test", 1484)):
        lengths = [offsets[i + 1] - offsets[i] for i in task.recordings(split)]
        w = task.windows(split)
        assert len(w) == sum((n - 100) // 50 + 1 for n in lengths) == expected
        assert w.X.shape == (expected, 100, 6) and w.X.dtype == np.float32
        # Never across two recordings: every window ends inside its own.
        ends = w.offset + 100
        assert (ends <= np.array([offsets[c + 1] - offsets[c] for c in w.case])).all()
    w = task.windows("test")
    for k in (0, 500, 1483):
        start = offsets[w.case[k]] + w.offset[k]
        expected = (raw["samples"][start : start + 100].astype(np.float64) - task.scaler.mean) / task.scaler.std
        np.testing.assert_allclose(w.X[k], expected, rtol=1e-5, atol=1e-6)
        assert w.y[k] == raw["y"][w.case[k]] and w.subject[k] == raw["subject"][w.case[k]]


def test_standardisation_is_fitted_on_the_training_recordings_only(task: NoveltyTask, raw) -> None:
    offsets = raw["offsets"]
    train = np.concatenate([raw["samples"][offsets[i] : offsets[i + 1]] for i in task.recordings("train")])
    np.testing.assert_allclose(task.scaler.mean, train.astype(np.float64).mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(task.scaler.std, train.astype(np.float64).std(axis=0), rtol=1e-10)
    everything = raw["samples"].astype(np.float64)
    assert not np.allclose(task.scaler.mean, everything.mean(axis=0), rtol=1e-3)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"normal_class": "SWIM"}, "not one of PEN"),
        ({"train_subjects": ("1", "2"), "test_subjects": ("2", "3")}, "in both"),
        ({"train_subjects": ("1", "11")}, "\\['11'\\] are not in"),
        ({"train_subjects": tuple(str(s) for s in range(1, 11))}, "both need at least one"),
        ({"train_subjects": "1"}, "not one string"),
        ({"test_subjects": "8"}, "not one string"),
    ],
    ids=["unknown-class", "overlap", "unknown-subject", "no-test-subject", "string", "test-string"],
)
def test_novelty_task_mistakes_are_named(ds: datasets.RecordingDataset, kwargs, expected: str) -> None:
    args = {"normal_class": "FEL", "train_subjects": ("1",), "window": 100} | kwargs
    with pytest.raises(TaskError, match=expected):
        NoveltyTask(ds, **args)


# -------------------------------------------------------------------------------------------- a user's own .npz

NPZ_MANIFEST = """\
format = "npz-recordings"

[file]
path = "rec.npz"
sha256 = "{sha256:rec.npz}"
recordings = 4

[arrays]
samples = "samples"
offsets = "offsets"
label = "y"
subject = "who"
meta = ["take"]

[series]
interval = "10ms"

[classes]
names = ["rest", "shake"]

[[channels]]
name = "a"
unit = "g"

[[channels]]
name = "b"
unit = "g"

[task]
kind = "novelty"
normal_class = "rest"
train_subjects = ["ann"]
window = 2
"""


def _npz(**override: np.ndarray) -> bytes:
    """A user's .npz of four recordings, as bytes; ``override`` replaces (or adds) arrays."""
    arrays = {
        # four recordings of 3, 2, 4 and 1 samples: a = sample number, b = 10 * recording number
        "samples": np.array(
            [[0, 0], [1, 0], [2, 0], [3, 10], [4, 10], [5, 20], [6, 20], [7, 20], [8, 20], [9, 30]], dtype=np.float64
        ),
        "offsets": np.array([0, 3, 5, 9, 10]),
        "y": np.array([0, 1, 0, 1]),
        "who": np.array(["ann", "ann", "bob", "bob"]),
        "take": np.array([1, 2, 1, 2]),
    } | override
    out = io.BytesIO()
    np.savez(out, **arrays)  # type: ignore[arg-type]  # arrays by keyword
    return out.getvalue()


def test_user_npz_dataset_loads_without_code_changes(make_dataset) -> None:
    make_dataset("rec", NPZ_MANIFEST, {"rec.npz": _npz()})
    assert "rec" in datasets.available()
    rec = datasets.load_recordings("rec")
    assert isinstance(datasets.load_any("rec"), datasets.RecordingDataset)
    assert [r[:, 0].tolist() for r in rec.recordings] == [[0, 1, 2], [3, 4], [5, 6, 7, 8], [9]]
    assert rec.subjects == ("ann", "bob") and rec.meta["take"].tolist() == [1, 2, 1, 2]
    assert rec.class_counts() == {"rest": 2, "shake": 2} and rec.samples.dtype == np.float32

    # Windows of 2 every 1: recording 0 gives starts 0, 1; recording 2 gives 0, 1, 2; recording 3 is too short.
    w = rec.windows([0, 2, 3], 2, 1)
    assert w.case.tolist() == [0, 0, 2, 2, 2] and w.offset.tolist() == [0, 1, 0, 1, 2]
    assert w.X[:, :, 0].tolist() == [[0, 1], [1, 2], [5, 6], [6, 7], [7, 8]]  # never 2 -> 3 across recordings
    with pytest.raises(WindowError, match="longest has 1 samples"):
        rec.windows([3], 2)

    task = NoveltyTask.from_manifest(rec)
    # train = ann's "rest" recording only (0); test = all of bob's (2 rest, 3 shake); standardised with recording 0.
    assert task.recordings("train").tolist() == [0] and task.recordings("test").tolist() == [2, 3]
    assert task.scaler.mean.tolist() == [1.0, 0.0] and task.scaler.std[0] == pytest.approx(np.sqrt(2 / 3))
    test = task.windows("test")
    assert test.case.tolist() == [2, 2] and task.is_anomaly(test).tolist() == [False, False]
    np.testing.assert_allclose(test.X[1, :, 0], (np.array([7.0, 8.0]) - 1.0) / np.sqrt(2 / 3), rtol=1e-6)


@pytest.mark.parametrize(
    ("override", "manifest_edit", "error", "expected"),
    [
        ({"offsets": np.array([0, 3, 5, 9, 11])}, None, ManifestError, "offsets must rise strictly from 0 to"),
        ({"y": np.array([0, 1, 0, 2])}, None, ManifestError, "class index in 0..1"),
        ({}, ("recordings = 4", "recordings = 5"), ManifestError, "has 4 recordings"),
        ({}, ('subject = "who"', 'subject = "subject"'), ManifestError, "has arrays"),
        ({}, ('[[channels]]\nname = "b"\nunit = "g"\n', ""), ManifestError, "samples must be numbers"),
        ({"who": np.array(["ann", {}, "bob", "bob"], dtype=object)}, None, DataFormatError, "need pickle"),
        ({"samples": np.full((10, 2), np.nan)}, None, DataFormatError, "non-finite"),
    ],
    ids=["offsets", "label-range", "count", "absent-array", "channel-count", "pickled", "nan"],
)
def test_user_npz_mistakes_are_named(make_dataset, override, manifest_edit, error, expected: str) -> None:
    manifest = NPZ_MANIFEST if manifest_edit is None else NPZ_MANIFEST.replace(*manifest_edit)
    assert manifest_edit is None or manifest != NPZ_MANIFEST
    make_dataset("rec", manifest, {"rec.npz": _npz(**override)})
    with pytest.raises(error, match=expected):
        datasets.load_recordings("rec")
