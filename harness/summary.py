"""The terminal summary of a run folder: test outcomes from junit.xml and the measured figures."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd

from harness.results import RESULTS_FILE, read_results


def outcomes(run_dir: Path) -> dict[str, int]:
    path = run_dir / "junit.xml"
    if not path.exists():
        return {}
    counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    for case in ET.parse(path).getroot().iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        counts[{"failure": "failed", "error": "error", "skipped": "skipped"}[kinds[0]] if kinds else "passed"] += 1
    return counts


def format_run(run_dir: Path) -> str:
    lines = []
    counts = outcomes(run_dir)
    if counts:
        lines.append("tests: " + ", ".join(f"{n} {k}" for k, n in counts.items() if n))
    if not (run_dir / RESULTS_FILE).exists():
        lines.append("no measurements were recorded")
        return "\n".join(lines)
    df = read_results(run_dir)
    summary = df[df["sample"].isna()]
    if summary.empty:
        return "\n".join(lines)
    table = (
        summary.assign(test=summary["test"].str.replace(r"^.*::", "", regex=True))
        .groupby(["board", "model", "metric", "unit"], dropna=False)["value"]
        .agg(["count", "min", "max"])
        .reset_index()
    )
    with pd.option_context("display.width", 160, "display.max_rows", 200, "display.float_format", "{:.6g}".format):
        lines.append(table.to_string(index=False))
    return "\n".join(lines)
