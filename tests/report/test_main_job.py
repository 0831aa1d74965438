"""The main job end to end, twice, on the host board: `python -m harness run` leaves a run folder with rows as
Parquet and CSV, junit.xml, per-test logs and report.html; the history holds both runs and the second report's
trends show the first. The report then opens in headless Chromium with no console error and no broken image."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from harness import cli
from harness.defaults import REPO_ROOT
from harness.reporting import browser
from harness.reporting.results import read_results

# Two quick tests that record per-window and per-step rows, so every plot of the report has data; the host board
# because it needs no emulator and takes about a second for them.
SELECTION = "test_lstm_matches_reference_on_weather or test_error_per_time_step or test_hello_describes_the_board"


def _main_job(report_root: Path) -> tuple[Path, str]:
    done = subprocess.run(
        # --no-browser: the test below opens the report itself, once
        [sys.executable, "-m", "harness", "run", "--board", "host", "-k", SELECTION, "--report-dir", str(report_root),
         "--no-browser"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 0, f"the main job failed ({done.returncode}):\n{out[-4000:]}"
    run_id = re.search(r"HIL run (\S+):", out).group(1)
    return report_root / run_id, out


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, Path, str]:
    root = tmp_path_factory.mktemp("reports")
    first, _ = _main_job(root)
    second, out = _main_job(root)
    return first, second, out


def test_a_run_folder_has_everything(two_runs) -> None:
    _, run, out = two_runs
    for name in ("results.csv", "results.parquet", "junit.xml", "report.html", "run.json"):
        assert (run / name).is_file(), f"{name} missing from {run}"
    assert list((run / "logs").glob("*.log")), "no per-test logs"
    csv_rows, parquet_rows = read_results(run), pd.read_parquet(run / "results.parquet")
    assert len(csv_rows) == len(parquet_rows) > 0
    assert (csv_rows["metric"] == parquet_rows["metric"]).all()
    pd.testing.assert_series_equal(csv_rows["value"], parquet_rows["value"])
    # progress while it streams, then the summary table and the report's path
    assert re.search(r"host lstm32x24: window 6/6, [\d,]+ ns", out), out[-3000:]
    assert "budgets: " in out and f"report:  {run / 'report.html'}" in out


def test_history_holds_both_runs_and_the_trends_show_the_first(two_runs) -> None:
    first, second, _ = two_runs
    rows = pd.read_parquet(second.parent / "history")
    assert {first.name, second.name} <= set(rows["run_id"])
    text = (second / "report.html").read_text()
    trend = re.search(r"Runs in these trends \(\d+\): ([^<]*)", text)
    assert trend and first.name in trend.group(1) and second.name in trend.group(1)


def test_report_command_rebuilds_a_run_from_its_rows(two_runs) -> None:
    first, _, _ = two_runs
    (first / "report.html").unlink()
    assert cli.main(["report", first.name, "--report-dir", str(first.parent)]) == 0  # in process: the CLI's code
    assert "Budgets" in (first / "report.html").read_text()


def test_report_opens_in_a_browser_without_errors(two_runs, hil_run_dir: Path) -> None:
    _, run, _ = two_runs
    try:
        browser.find_chromium()
    except browser.BrowserMissing as exc:
        pytest.skip(str(exc))
    page = browser.check_page(run / "report.html", run / "report.png")
    assert page.ok, f"the report shows problems in Chromium:\n{page.problems()}"
    assert page.images >= 5, f"only {page.images} images in the report"
    assert page.screenshot is not None and page.screenshot.stat().st_size > 50_000
    shutil.copyfile(page.screenshot, hil_run_dir / "report-main-job.png")  # kept with this test run's folder


def test_browser_check_catches_a_broken_image_and_a_script_error(tmp_path: Path) -> None:
    try:
        browser.find_chromium()
    except browser.BrowserMissing as exc:
        pytest.skip(str(exc))
    page = tmp_path / "broken.html"
    page.write_text(
        "<html><body><img alt='missing' src='no-such-plot.png'><img alt='bad' src='data:image/png;base64,AAAA'>"
        "<script>console.error('plot failed'); undefined_function();</script></body></html>"
    )
    check = browser.check_page(page)
    assert not check.ok
    assert len(check.broken_images) == 2
    assert any("plot failed" in e for e in check.console_errors)
    assert any("undefined_function" in e for e in check.console_errors)
