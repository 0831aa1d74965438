"""report.html: self-contained, data-driven sections, budgets with their status, trends from the history."""

from __future__ import annotations

import base64
import re
import zlib
from pathlib import Path

import numpy as np
import pytest

from harness.reporting import history, html_report
from harness.reporting.baselines import Budget, BudgetBook
from harness.reporting.results import Record, ResultsWriter, RunInfo

BOARD = "qemu-x"
TEST = "tests/hil/test_x.py::test_a[qemu-x]"


def _run(root: Path, run_id: str, count: float, *, extra: list[Record] = ()) -> Path:
    rng = np.random.default_rng(zlib.crc32(run_id.encode()))
    info = RunInfo(run_id, "2026-11-22T00:00:00.000Z", "abc1234", board=BOARD, build_id="00ff", toolchain="gcc 12")
    with ResultsWriter(root / run_id, info) as w:
        w.write(Record(TEST, "m", "d", "instructions_per_inference", count, "instructions"))
        for i in range(4):
            ref = float(rng.normal())
            w.write(Record(TEST, "m", "d", "output_device", ref + 1e-8, "1", sample=i))
            w.write(Record(TEST, "m", "d", "output_reference", ref, "1", sample=i))
            w.write(Record(TEST, "m", "d", "latency_instructions", count + i, "instructions", sample=i))
        for t in range(5):
            w.write(Record(TEST, "m", "d", "abs_err_per_step", 1e-8 * t, "1", sample=t))
        w.write(Record(TEST, "m", "", "arena_high_water", 21_408, "B"))
        w.write(Record(TEST, "", "", "ram_budget", 98_304, "B"))
        for r in extra:
            w.write(r)
    return root / run_id


def _book() -> BudgetBook:
    return BudgetBook(BOARD, [
        Budget(board=BOARD, model="m", metric="instructions_per_inference", unit="instructions",
               expected=1_000_000.0, pass_rel=0.001, fail_rel=0.01),
        Budget(board=BOARD, model="m", metric="model_bytes", unit="B", expected=10.0, pass_abs=0.0, fail_rel=0.05),
    ])  # fmt: skip


def _sections(text: str) -> set[str]:
    return set(re.findall(r'<section id="([\w-]+)">', text))


@pytest.fixture(scope="module")
def baselines_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("baselines")
    _book().write(folder / f"{BOARD}.toml")
    return folder


EXTRA = (
    [Record(TEST, "m", "d", "train_loss", 1 / (s + 1), "1", sample=s) for s in range(10)]
    + [Record(TEST, "m", "d", "train_loss_ref", 1 / (s + 1), "1", sample=s) for s in range(10)]
    + [Record(TEST, "esn", "d", "anomaly_score", float(s % 7), "1", sample=s) for s in range(30)]
    + [Record(TEST, "esn", "d", "anomaly_label", float(s % 7 == 6), "1", sample=s) for s in range(30)]
    + [Record(TEST, "esn", "d", "anomaly_threshold", 5.5, "1")]
    + [Record(TEST, "m", "d", "something_new", float(s), "1", sample=s) for s in range(3)]
    + [Record(TEST, "r", "d", f"replay_{what}_ms", v, "ms", sample=s)
       for s in range(5) for what, v in (("device", 0.4), ("wire", 6.6), ("latency", 5.0))]
    + [Record(TEST, "r", "d", metric, v, unit) for metric, v, unit in (("replay_deadline_ms", 100.0, "ms"),
       ("replay_missed_deadlines", 0, ""), ("replay_real_time_factor", 14.3, "x"), ("replay_slack_min_ms", 93, "ms"))]
)  # fmt: skip


@pytest.fixture(scope="module")
def rich_report(tmp_path_factory, baselines_dir: Path) -> str:
    """One full report (rendering is the slow part) of a run with every kind of row."""
    run = _run(tmp_path_factory.mktemp("reports"), "20261122T010000Z-aaaaaa", 1_000_000, extra=EXTRA)
    return html_report.build_report(run, baselines_dir=baselines_dir).read_text()


def test_report_is_self_contained_with_decodable_images(rich_report: str) -> None:
    sources = re.findall(r'<img[^>]* src="([^"]+)"', rich_report)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    for s in sources:
        assert base64.b64decode(s.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert not re.search(r'(src|href)="(https?:)?//', rich_report), "the report must open offline"


def test_sections_follow_the_rows(tmp_path: Path, rich_report: str, baselines_dir: Path) -> None:
    expected = {"run", "budgets", "trends", "outputs", "error-per-step", "latency", "memory", "training", "anomaly",
                "replay"}  # fmt: skip
    assert expected | {"other"} <= _sections(rich_report)
    assert "something_new" in rich_report  # a series no section claims still shows, under "Other series"
    # the same run without those rows: the sections they feed are left out (checked without drawing the rest)
    plain = html_report.load_run(_run(tmp_path, "20261122T010000Z-aaaaaa", 1_000_000), baselines_dir=baselines_dir)
    drawn = {sec.anchor: sec for sec in html_report.SECTIONS}
    for anchor in ("training", "anomaly", "replay"):
        assert drawn[anchor].render(plain) is None


def test_replay_rows_are_drawn_against_their_deadline_and_tabled(rich_report: str) -> None:
    replay = rich_report[rich_report.index('<section id="replay">') :]
    replay = replay[: replay.index("</section>")]
    assert "data:image/png;base64," in replay
    cells = re.findall(r"<td>([^<]*)</td>", replay)
    # board, model, requests plotted, deadline, device and wire medians, least slack, missed, real-time factor
    assert cells[:9] == [BOARD, "r", "5", "100", "0.4", "6.6", "93", "0", "14.3"]
    assert "replay_device_ms" not in rich_report[rich_report.index('<section id="other">') :]


def test_budget_table_shows_each_status(tmp_path: Path, baselines_dir: Path) -> None:
    run = _run(tmp_path, "20261122T010000Z-aaaaaa", 1_050_000)  # +5%: beyond the +1% fail band
    data = html_report.load_run(run, baselines_dir=baselines_dir)
    status = dict(zip(data.checks["metric"], data.checks["status"], strict=True))
    assert status == {"instructions_per_inference": "fail", "model_bytes": "not measured"}
    table = {sec.anchor: sec for sec in html_report.SECTIONS}["budgets"].render(data)
    assert ">fail<" in table and ">not measured<" in table and "1,050,000" in table
    # what the run measured first; what it did not, folded away under one line
    measured, folded = table.split("<details>", 1)
    assert "instructions_per_inference" in measured and "model_bytes" not in measured
    assert folded.startswith("<summary>1 budget this run did not measure</summary>") and "model_bytes" in folded


def test_trends_show_earlier_runs_and_a_rebuilt_report_shows_the_past_as_it_was(
    tmp_path: Path, baselines_dir: Path
) -> None:
    root = tmp_path / "reports"
    first = _run(root, "20261122T010000Z-aaaaaa", 1_000_000)
    history.append(first, root)
    second = _run(root, "20261123T010000Z-bbbbbb", 1_000_200)
    history.append(second, root)
    trends = {sec.anchor: sec for sec in html_report.SECTIONS}["trends"]

    def trend_runs(run: Path) -> str:
        text = trends.render(html_report.load_run(run, baselines_dir=baselines_dir))
        return re.search(r"Runs in these trends \((\d+)\): ([^<]*)", text).group(0)

    assert first.name in trend_runs(second) and "(2)" in trend_runs(second)
    assert second.name not in trend_runs(first)  # rebuilt later, run 1's report does not show its future


def test_the_runs_own_budget_snapshot_wins(tmp_path: Path, baselines_dir: Path) -> None:
    run = _run(tmp_path / "reports", "20261122T010000Z-aaaaaa", 1_000_000)
    (run / "baselines").mkdir()
    stricter = _book()
    stricter.budgets[0] = Budget(board=BOARD, model="m", metric="instructions_per_inference",
                                 unit="instructions", expected=900_000.0, pass_rel=0.001, fail_rel=0.01)  # fmt: skip
    stricter.write(run / "baselines" / f"{BOARD}.toml")
    data = html_report.load_run(run, baselines_dir=baselines_dir)
    assert data.checks.set_index("metric")["status"]["instructions_per_inference"] == "fail"


def test_the_users_own_models_come_first(tmp_path: Path, baselines_dir: Path) -> None:
    # "lstm128x168" is in the project's committed baselines; "m" (tests/hil/test_x.py, a file this checkout does not
    # have) and "zz_my_forecaster" (outside the repository) come from test files of the user's
    mine = "../../home/me/my_tests/test_mine.py::test_forecast[host]"
    extra = [Record(TEST, "lstm128x168", "d", "instructions_per_inference", 5e7, "instructions"),
             Record(mine, "zz_my_forecaster", "d", "rmse", 0.5, "degC")]  # fmt: skip
    run = _run(tmp_path, "20261122T010000Z-aaaaaa", 1e6, extra=extra)
    data = html_report.load_run(run, baselines_dir=baselines_dir)
    assert data.models == ["m", "zz_my_forecaster", "lstm128x168"]
    drawn = {sec.anchor: sec for sec in html_report.SECTIONS}
    models = drawn["models"].render(data)
    assert models.index("zz_my_forecaster") < models.index("lstm128x168")
    assert models.count("<b>yours</b>") == 2
    assert not html_report._is_project_test(TEST) and html_report._is_project_test(
        "tests/unit/test_html_report.py::test_the_users_own_models_come_first"
    )
    figures = drawn["figures"].render(data)
    assert figures.index("zz_my_forecaster") < figures.index("lstm128x168")
    anchors = [sec.anchor for sec in html_report.SECTIONS]
    assert anchors.index("models") == anchors.index("run") + 1, "the models come right after the run's facts"
