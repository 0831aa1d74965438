"""``[file] where``: a csv manifest selects the rows of one series (a station) out of a long-format file holding
several, before the time index, fills or scaling see them (issue 12)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness import datasets
from harness.datasets import DatasetError, ManifestError, UnknownColumnError

HOURS = 48


def _long_csv(*, lga_gap: int | None = None) -> str:
    """Two stations, interleaved hour by hour as a long-format export writes them. JFK reads 100 + hour, LGA
    reads 200 + hour (an empty field at ``lga_gap``); the code column holds numbers as text."""
    lines = ["time,origin,code,temp,note"]
    for h in range(HOURS):
        stamp = (pd.Timestamp("2024-01-01") + pd.Timedelta(hours=h)).strftime("%Y-%m-%d %H:%M:%S")
        lines.append(f"{stamp},JFK,1,{100 + h},x")
        lga = "" if h == lga_gap else f"{200 + h}"
        lines.append(f"{stamp},LGA,2,{lga},y")
    return "\n".join(lines) + "\n"


def _manifest(where: str | None, *, temp_extra: str = "", rows: int = 2 * HOURS, file_extra: str = "") -> str:
    return f"""
title = "two stations"
{file_extra}
[file]
path = "long.csv"
sha256 = "{{sha256:long.csv}}"
rows = {rows}
na_values = [""]
{"" if where is None else f"where = {where}"}

[time]
column = "time"
interval = "1h"

[split]
method = "chronological"
train = 0.5
val = 0.25
test = 0.25

[[columns]]
name = "time"
kind = "time"

[[columns]]
name = "origin"
kind = "categorical"

[[columns]]
name = "code"
kind = "index"

[[columns]]
name = "temp"
kind = "numeric"
unit = "°C"
{temp_extra}

[[columns]]
name = "note"
kind = "index"
"""


@pytest.fixture
def two_stations(make_dataset: Callable[..., Path]) -> Callable[..., Path]:
    def make(where: str | None, csv: str | None = None, **kwargs: object) -> Path:
        return make_dataset("stations", _manifest(where, **kwargs), {"long.csv": csv or _long_csv()})

    return make


def test_one_station_is_selected_in_time_order(two_stations) -> None:
    two_stations('{ origin = "LGA" }')
    ds = datasets.load("stations")
    assert len(ds) == HOURS
    np.testing.assert_array_equal(ds.values(["temp"])[:, 0], 200 + np.arange(HOURS))
    assert ds.time[0] == pd.Timestamp("2024-01-01 00:00") and ds.time[-1] == pd.Timestamp("2024-01-02 23:00")
    assert set(ds.frame["origin"]) == {"LGA"}
    # the split and the windows are those of the selected rows only
    assert ds.split_bounds["train"] == (0, HOURS // 2)
    task = datasets.ForecastTask(ds, ("temp",), "temp", window=4)
    assert task.scaler.min[0] == 200 and task.scaler.max[0] == 200 + HOURS // 2 - 1


def test_a_list_accepts_any_of_its_values_and_an_integer_matches_its_text(two_stations) -> None:
    two_stations('{ origin = ["LGA", "EWR"], code = 2 }')
    assert len(datasets.load("stations")) == HOURS


def test_without_where_a_long_file_says_why_time_repeats(two_stations) -> None:
    two_stations(None)
    with pytest.raises(ManifestError, match=r"time must increase strictly.*several series.*\[file\] where"):
        datasets.load("stations")


def test_filter_comes_before_the_fill_and_its_counts(two_stations) -> None:
    # JFK has no gap; LGA's missing hour is counted and filled among LGA's rows only
    fill = 'missing = 1\nfill = "interpolate"\nfill_reason = "one hour between two readings"'
    two_stations('{ origin = "LGA" }', _long_csv(lga_gap=10), temp_extra=fill)
    ds = datasets.load("stations")
    assert ds.filled["temp"].sum() == 1
    assert ds.frame["temp"].iloc[10] == pytest.approx(210.0)  # between LGA's 209 and 211, not JFK's 110


def test_rows_counts_the_file_not_the_selection(two_stations) -> None:
    two_stations('{ origin = "LGA" }', rows=HOURS)
    with pytest.raises(ManifestError, match=f"has {2 * HOURS} data rows but .* declares rows = {HOURS}"):
        datasets.load("stations")


def test_unknown_column_names_it_and_the_declared_ones(two_stations) -> None:
    two_stations('{ station = "LGA" }')
    with pytest.raises(UnknownColumnError) as info:
        datasets.load("stations")
    message = str(info.value)
    assert isinstance(info.value, DatasetError)
    assert "'station'" in message and "[file]" in message
    for column in ("time", "origin", "code", "temp", "note"):
        assert repr(column) in message


def test_a_filter_keeping_no_row_names_the_values_it_has(two_stations) -> None:
    two_stations('{ origin = "lga" }')
    with pytest.raises(ManifestError) as info:
        datasets.load("stations")
    message = str(info.value)
    assert "keeps no row" in message and "origin in ['lga'] keeps 0 rows" in message
    assert "'JFK', 'LGA'" in message


def test_two_conditions_that_each_match_but_never_together(two_stations) -> None:
    two_stations('{ origin = "LGA", code = "1" }')
    with pytest.raises(ManifestError, match=r"origin in \['LGA'\] keeps 48 rows.*code in \['1'\] keeps 48 rows.*"
                       r"together they keep none"):  # fmt: skip
        datasets.load("stations")


@pytest.mark.parametrize(
    ("where", "match"),
    [
        ('"LGA"', "where must be a table"),
        ("{}", "where must be a table"),
        ("{ origin = [] }", "accepts no value"),
        ("{ origin = 1.5 }", "as strings"),
        ("{ origin = true }", "as strings"),
    ],
)
def test_malformed_where_is_a_manifest_error(two_stations, where: str, match: str) -> None:
    two_stations(where)
    with pytest.raises(ManifestError, match=match):
        datasets.load("stations")


def test_where_at_the_top_level_points_to_the_file_table(two_stations) -> None:
    two_stations(None, file_extra='where = { origin = "LGA" }')
    with pytest.raises(ManifestError, match=r"unknown top-level keys \['where'\].*goes in the \[file\] table"):
        datasets.load("stations")


def test_an_index_column_is_read_but_not_exposed(two_stations) -> None:
    two_stations('{ origin = "JFK" }')
    ds = datasets.load("stations")
    assert "note" not in ds.frame.columns and "code" not in ds.frame.columns
    assert ds.numeric_columns == ("temp",)
    with pytest.raises(UnknownColumnError, match="no numeric column 'note'"):
        ds.values(["note"])
