"""water_flow: UTC time index, gaps, labels computed from the manifest's intervals (never from the file), and
the anomaly streams; plus a user's own labelled CSV with a gap inside a labelled interval."""

from __future__ import annotations

import csv
import datetime
import itertools
import shutil
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness import datasets
from harness.datasets import REPO_DATASETS, AnomalyTask, ForecastTask, ManifestError

FOLDER = REPO_DATASETS / "water_flow"
CSV = FOLDER / "water-flow.csv"
FLOW = "Water flow [l/s]"
HOUR = datetime.timedelta(hours=1)


@pytest.fixture(scope="module")
def ds(vendored) -> datasets.Dataset:
    return vendored("water_flow")


@pytest.fixture(scope="module")
def raw() -> tuple[list[datetime.datetime], np.ndarray]:
    """UTC times (naive) and flows read with the csv module and datetime, independently of pandas."""
    with CSV.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["Time", FLOW]  # no label column in the vendored file
    times = [datetime.datetime.fromisoformat(r["Time"]).astimezone(datetime.UTC).replace(tzinfo=None) for r in rows]
    return times, np.array([float(r[FLOW]) for r in rows])


@pytest.fixture(scope="module")
def intervals() -> list[tuple[datetime.datetime, datetime.datetime]]:
    manifest = tomllib.loads((FOLDER / "manifest.toml").read_text(encoding="utf-8"))
    return [
        (datetime.datetime.fromisoformat(iv["start"]), datetime.datetime.fromisoformat(iv["end"]))
        for iv in manifest["labels"]["intervals"]
    ]


def test_vendored_file_is_the_one_datasets_md_lists(vendored_sha256) -> None:
    recorded, actual = vendored_sha256("water_flow")[CSV.name]
    assert actual == recorded
    assert actual.startswith("6c84efeb") and actual.endswith("a69c83dc")


def test_time_index_is_utc(ds: datasets.Dataset, raw) -> None:
    times, flow = raw
    assert len(ds) == len(times) == 1268
    assert list(ds.time) == [pd.Timestamp(t) for t in times]
    np.testing.assert_array_equal(ds.values([FLOW])[:, 0], flow)
    # The file switches from +01:00 to +02:00 on 2022-03-27; in UTC the hours around it stay one apart.
    switch = next(i for i, t in enumerate(times) if t >= datetime.datetime(2022, 3, 27, 1))
    assert times[switch] - times[switch - 1] == HOUR


def test_gaps_split_the_file_into_runs(ds: datasets.Dataset, raw) -> None:
    times, _ = raw
    gaps = [i for i in range(1, len(times)) if times[i] - times[i - 1] != HOUR]
    assert ds.segment_starts.tolist() == gaps and len(gaps) == 10
    missing_hours = sum((times[i] - times[i - 1]) // HOUR - 1 for i in gaps)
    assert missing_hours == 111 == (times[-1] - times[0]) // HOUR + 1 - len(times)
    assert ds.runs() == list(zip([0, *gaps], [*gaps, len(times)], strict=True))
    for lo, hi in ds.runs("test"):
        assert all(times[i + 1] - times[i] == HOUR for i in range(lo, hi - 1))


def test_labels_per_segment_are_what_the_intervals_imply(ds: datasets.Dataset, raw, intervals) -> None:
    times, _ = raw
    assert ds.labels is not None and ds.labels.name == "anomaly"
    assert len(ds.label_segments) == len(intervals) == 5
    for segment, (start, end) in zip(ds.label_segments, sorted(intervals), strict=True):
        hours = (end - start) // HOUR + 1
        inside = [i for i, t in enumerate(times) if start <= t <= end]
        # No gap inside any interval: one run, every hour it implies present and labelled.
        assert segment.rows == len(inside) == hours == segment.expected and segment.missing == 0
        assert segment.runs == ((inside[0], inside[-1] + 1),)
        assert ds.labels.iloc[inside].all()
    assert [s.rows for s in ds.label_segments] == [17, 2, 12, 1, 15]
    assert int(ds.labels.sum()) == 47
    assert [s.interval.kind for s in ds.label_segments] == ["drop", "peak", "drop", "peak", "drop"]


def test_labels_match_the_rule_stated_on_the_values(ds: datasets.Dataset, raw) -> None:
    # The manifest says its hand-set intervals are exactly the hours below 93 l/s or above 106 l/s.
    _, flow = raw
    np.testing.assert_array_equal(ds.labels.to_numpy(), (flow < 93) | (flow > 106))


def test_labels_come_from_the_manifest_not_the_file(user_datasets: Path) -> None:
    copy = user_datasets / "water_flow"
    shutil.copytree(FOLDER, copy)
    text = (copy / "manifest.toml").read_text(encoding="utf-8")
    one_peak = 'start = "2022-04-03T04:00:00"\nend = "2022-04-03T04:00:00"'
    assert one_peak in text
    moved = text.replace(one_peak, 'start = "2022-04-03T03:00:00"\nend = "2022-04-03T04:00:00"').replace(
        "rows = 1\n", "rows = 2\n"
    )
    (copy / "manifest.toml").write_text(moved, encoding="utf-8")
    relabelled = datasets.load("water_flow")
    assert int(relabelled.labels.sum()) == 48
    assert relabelled.labels[pd.Timestamp("2022-04-03T03:00:00")]


def test_split_puts_events_on_both_sides(ds: datasets.Dataset) -> None:
    counts = {s: int(ds.labels.iloc[lo:hi].sum()) for s, (lo, hi) in ds.split_bounds.items()}
    assert counts == {"train": 32, "val": 0, "test": 15}
    assert [hi - lo for lo, hi in ds.split_bounds.values()] == [380, 254, 634]


def test_anomaly_task_scaler_and_streams(ds: datasets.Dataset, raw) -> None:
    times, flow = raw
    task = AnomalyTask.from_manifest(ds)
    assert task.features == (FLOW,) and task.window == 24
    lo, hi = ds.split_bounds["train"]
    normal = ~((flow < 93) | (flow > 106))[lo:hi]
    assert task.scaler.min[0] == flow[lo:hi][normal].min() and task.scaler.max[0] == flow[lo:hi][normal].max()
    assert task.scaler.min[0] > flow[lo:hi].min()  # the drops are outside the scale of normal operation

    for split in datasets.SPLITS:
        s_lo, s_hi = ds.split_bounds[split]
        streams = task.streams(split, min_length=1)
        assert sum(len(s) for s in streams) == s_hi - s_lo
        for s in streams:
            span = times[s.start : s.start + len(s)]
            assert all(b - a == HOUR for a, b in itertools.pairwise(span))  # never across a gap
            assert s_lo <= s.start and s.start + len(s) <= s_hi
            np.testing.assert_allclose(task.scaler.inverse(s.u)[:, 0], flow[s.start : s.start + len(s)], rtol=1e-5)
            assert s.labels.tolist() == ds.labels.iloc[s.start : s.start + len(s)].tolist()
    assert [len(s) for s in task.streams("train")] == [208, 172]

    normal_streams = task.streams("train", normal_only=True)
    assert [(s.start, len(s)) for s in normal_streams] == [(0, 94), (111, 97), (224, 105), (330, 50)]
    assert not any(s.labels.any() for s in normal_streams)


# ------------------------------------------------------------------------------------- a user's labelled CSV

USER_CSV = """\
time,level
2024-01-01T00:00:00+01:00,5
2024-01-01T01:00:00+01:00,5
2024-01-01T02:00:00+01:00,9
2024-01-01T03:00:00+01:00,9
2024-01-01T06:00:00+01:00,9
2024-01-01T07:00:00+01:00,5
2024-01-01T08:00:00+01:00,5
2024-01-01T09:00:00+01:00,5
2024-01-01T10:00:00+01:00,5
2024-01-01T11:00:00+01:00,5
"""

USER_MANIFEST = """\
[file]
path = "level.csv"
sha256 = "{sha256:level.csv}"

[time]
column = "time"
interval = "1h"
utc = true

[split]
method = "chronological"
train = 0.6
val = 0.0
test = 0.4

[labels]
rule = "overflow hours read off the operator's log"

[[labels.intervals]]
start = "2024-01-01T01:00:00"
end = "2024-01-01T05:00:00"
rows = 3

[task]
kind = "anomaly"
features = ["level"]
window = 2

[[columns]]
name = "time"
kind = "time"

[[columns]]
name = "level"
kind = "numeric"
unit = "cm"
"""


def test_user_label_interval_across_a_gap(make_dataset) -> None:
    make_dataset("level", USER_MANIFEST, {"level.csv": USER_CSV})
    ds = datasets.load("level")
    # +01:00 times in UTC: 23:00 on 31 Dec is the first; the gap is 02:00 -> 05:00 UTC (two hours missing).
    assert ds.time[0] == pd.Timestamp("2023-12-31T23:00:00") and ds.segment_starts.tolist() == [4]
    # Interval 01:00-05:00 UTC implies 5 hours; 03:00 and 04:00 fall in the gap, so rows 2, 3 and 4 are labelled,
    # kept as two runs either side of the gap.
    (segment,) = ds.label_segments
    assert ds.labels.tolist() == [False, False, True, True, True] + [False] * 5
    assert (segment.expected, segment.rows, segment.missing) == (5, 3, 2)
    assert segment.runs == ((2, 4), (4, 5))

    task = AnomalyTask.from_manifest(ds)
    # train = rows 0..5; unlabelled ones are 0, 1 and 5, all level 5: a constant column scales to 0, not nan.
    assert task.scaler.min.tolist() == [5.0] and task.scaler.range.tolist() == [1.0]
    assert [(s.start, len(s)) for s in task.streams("train")] == [(0, 4), (4, 2)]
    assert [(s.start, len(s)) for s in task.streams("train", normal_only=True)] == [(0, 2)]
    assert [(s.start, len(s)) for s in task.streams("train", normal_only=True, min_length=1)] == [(0, 2), (5, 1)]
    # Forecast windows never span the gap either: train runs are rows 0..3 and 4..5, so 3 + 1 rows fit once (at
    # row 0) and 2 + 1 rows twice (rows 0 and 1), never starting at row 2 or 3, which would reach across it.
    assert ForecastTask(ds, ("level",), "level", window=3).starts("train").tolist() == [0]
    assert ForecastTask(ds, ("level",), "level", window=2).starts("train").tolist() == [0, 1]


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda m: m.replace("rows = 3", "rows = 5"), "holds 3 readings but declares rows = 5"),
        (lambda m: m.replace('"2024-01-01T05:00:00"', '"2025-01-01T05:00:00"').replace("01T01", "02T01"), "no reading"),
        (lambda m: m.replace('rule = "overflow hours read off the operator\'s log"\n', ""), "rule is missing"),
        (lambda m: m.replace("utc = true\n", ""), "utc = true"),
        (
            lambda m: m + '\n[[labels.intervals]]\nstart = "2024-01-01T05:00:00"\nend = "2024-01-01T06:00:00"\n',
            "overlap",
        ),
        (lambda m: m.replace("[labels]", "[label]"), "unknown top-level keys \\['label'\\]"),
    ],
    ids=["rows", "outside", "no-rule", "offsets-without-utc", "overlap", "misspelt-table"],
)
def test_user_label_mistakes_are_named(make_dataset, edit, expected) -> None:
    manifest = edit(USER_MANIFEST)
    assert manifest != USER_MANIFEST
    make_dataset("level", manifest, {"level.csv": USER_CSV})
    with pytest.raises(ManifestError, match=expected):
        datasets.load("level")


def test_anomaly_task_needs_labels() -> None:
    beijing = datasets.load("beijing_pm")
    assert beijing.labels is None and beijing.label_segments == ()
    with pytest.raises(ManifestError, match="declares no \\[labels\\]"):
        AnomalyTask(beijing, ("TEMP",))
