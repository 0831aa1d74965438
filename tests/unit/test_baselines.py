"""Budgets: bands, verdicts and their messages, the baseline file format, and accepting a run's figures."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.reporting import baselines
from harness.reporting.baselines import BaselineError, Budget, BudgetBook, BudgetStatus
from harness.reporting.results import Record, ResultsWriter, RunInfo, read_results

COUNT = Budget(
    board="qemu-x", model="m", metric="instructions_per_inference", unit="instructions", expected=1_000_000.0,
    pass_rel=0.001, fail_rel=0.01, source="reports/baselines/qemu-x.toml",
)  # fmt: skip
ERROR = Budget(board="qemu-x", model="m", metric="max_abs_err_vs_ref", unit="1", expected=3e-8, pass_abs=2e-7,
               fail_abs=1e-6)  # fmt: skip


@pytest.mark.parametrize(
    ("value", "status"),
    [
        (1_000_000, BudgetStatus.PASS),
        (1_001_000, BudgetStatus.PASS),  # on the edge of the ±0.1% pass band
        (1_001_001, BudgetStatus.MARGINAL),
        (1_010_000, BudgetStatus.MARGINAL),  # on the edge of the +1% fail limit
        (1_010_001, BudgetStatus.FAIL),
        (998_999, BudgetStatus.MARGINAL),  # faster than budget: stale, accept it
        (500_000, BudgetStatus.MARGINAL),  # much faster never fails: "higher is worse"
        (math.nan, BudgetStatus.FAIL),
    ],
)
def test_bands(value: float, status: BudgetStatus) -> None:
    assert COUNT.check(value).status is status


def test_a_failure_names_metric_board_budget_and_value() -> None:
    verdict = COUNT.check(1_020_000, run_id="20261122T000000Z-abcdef")
    assert verdict.status is BudgetStatus.FAIL and not verdict.ok
    for part in ("instructions_per_inference", "qemu-x", "1,020,000 instructions", "+2.00%", COUNT.describe(),
                 "reports/baselines/qemu-x.toml", "baseline accept 20261122T000000Z-abcdef"):  # fmt: skip
        assert part in verdict.message
    assert COUNT.describe() == (
        "1,000,000 instructions, pass within ±0.1%, fail beyond +1% (above 1,010,000 instructions)"
    )


def test_better_than_budget_says_to_accept() -> None:
    assert "accept" in COUNT.check(900_000).message and "better than budget" in COUNT.check(900_000).message


def test_absolute_bands_for_errors() -> None:
    assert ERROR.check(0.0).status is BudgetStatus.PASS  # an exact answer is no regression
    assert ERROR.check(2.2e-7).status is BudgetStatus.PASS
    assert ERROR.check(5e-7).status is BudgetStatus.MARGINAL
    assert ERROR.check(1.1e-6).status is BudgetStatus.FAIL
    assert "%" not in ERROR.check(1.1e-6).message  # relative change of a near-zero error is noise, not shown


def test_two_sided_budget() -> None:
    both = Budget(board="b", model="m", metric="x", unit="1", expected=10.0, worse="both", pass_abs=1.0, fail_abs=2.0)
    assert [both.check(v).status for v in (7.9, 8.5, 10, 11.5, 12.1)] == [
        BudgetStatus.FAIL, BudgetStatus.MARGINAL, BudgetStatus.PASS, BudgetStatus.MARGINAL, BudgetStatus.FAIL,
    ]  # fmt: skip


def test_bad_budgets_are_refused() -> None:
    with pytest.raises(BaselineError, match="exactly one of pass_rel/pass_abs"):
        Budget(board="b", model="m", metric="x", unit="1", expected=1.0, pass_rel=0.1, pass_abs=0.1, fail_rel=0.2)
    with pytest.raises(BaselineError, match="narrower than the pass band"):
        Budget(board="b", model="m", metric="x", unit="1", expected=1.0, pass_rel=0.2, fail_rel=0.1)
    with pytest.raises(BaselineError, match="worse"):
        Budget(board="b", model="m", metric="x", unit="1", expected=1.0, worse="up", pass_rel=0.1, fail_rel=0.2)


def test_lookup_prefers_the_test_specific_budget() -> None:
    specific = Budget(board="b", model="m", metric="x", unit="1", expected=5.0, pass_abs=0, fail_abs=1,
                      test="test_a.py::test_one")  # fmt: skip
    generic = Budget(board="b", model="m", metric="x", unit="1", expected=9.0, pass_abs=0, fail_abs=1)
    book = BudgetBook("b", [generic, specific])
    assert book.lookup("tests/hil/test_a.py::test_one[b-m]", "m", "x") is specific
    assert book.lookup("tests/hil/test_a.py::test_two[b]", "m", "x") is generic
    assert book.lookup("tests/hil/test_a.py::test_one", "other", "x") is None


def test_file_round_trip_is_stable_and_one_value_per_line(tmp_path: Path) -> None:
    book = BudgetBook("qemu-x", [ERROR, COUNT])
    path = baselines.baseline_path(tmp_path, "qemu-x")
    book.write(path)
    text = path.read_text()
    loaded = BudgetBook.load(path)
    assert loaded.dumps() == text  # what is read writes back byte for byte
    assert [(b.model, b.metric) for b in loaded.budgets] == [
        ("m", "instructions_per_inference"),
        ("m", "max_abs_err_vs_ref"),
    ]
    assert loaded.budgets[0].expected == COUNT.expected and loaded.budgets[1].expected == ERROR.expected
    for line in text.splitlines():
        assert line.startswith(("#", "[[budget]]")) or line == "" or line.count(" = ") == 1


def test_unreadable_files_say_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "b.toml"
    path.write_text("[[budget]\n")
    with pytest.raises(BaselineError, match="not valid TOML"):
        BudgetBook.load(path)
    path.write_text('[[budget]]\nmodel = "m"\nmetric = "x"\nunit = "1"\nexpected = 1.0\nspeed = 3\n')
    with pytest.raises(BaselineError, match="unknown keys \\['speed'\\]"):
        BudgetBook.load(path)


def _rows(tmp_path: Path, records: list[Record], board: str = "qemu-x") -> pd.DataFrame:
    info = RunInfo("20261122T000000Z-abcdef", "2026-11-22T00:00:00.000Z", "abc", board=board)
    with ResultsWriter(tmp_path, info) as writer:
        for r in records:
            writer.write(r)
    return read_results(tmp_path)


def test_accept_takes_summary_rows_and_aggregates_samples(tmp_path: Path) -> None:
    t = "tests/hil/test_x.py::test_a[qemu-x]"
    rows = _rows(tmp_path, [
        Record(t, "m", "", "instructions_per_inference", 885_386, "instructions"),
        *[Record(t, "m", "", "latency_instructions", v, "instructions", sample=i)
          for i, v in enumerate([887_000, 885_000, 889_000])],
        *[Record(t, "m", "", "abs_err_per_step", v, "1", sample=i) for i, v in enumerate([1e-8, 3e-8, 2e-8])],
        Record(t, "m", "", "latency_ns", 1234, "ns", sample=0),  # wall clock: deliberately never budgeted
        Record(t, "m", "", "some_new_metric", 1, "1"),  # no rule: not budgeted
    ])  # fmt: skip
    book = baselines.accept(rows, "qemu-x", run_id="run-1")
    got = {b.metric: b for b in book.budgets}
    assert set(got) == {"instructions_per_inference", "latency_instructions", "abs_err_per_step"}
    assert got["instructions_per_inference"].expected == 885_386
    assert got["latency_instructions"].expected == 887_000  # median of the windows
    assert got["abs_err_per_step"].expected == 3e-8  # errors: the worst step
    assert all(b.accepted_from == "run-1" and b.why and not b.test for b in book.budgets)


def test_accept_keeps_hand_tuned_bands_and_unmeasured_budgets(tmp_path: Path) -> None:
    tuned = Budget(board="qemu-x", model="m", metric="instructions_per_inference", unit="instructions",
                   expected=800_000.0, pass_rel=0.0, fail_rel=0.002, why="tuned by hand")  # fmt: skip
    other = Budget(board="qemu-x", model="gone", metric="model_bytes", unit="B", expected=10.0, pass_abs=0, fail_rel=1)
    rows = _rows(tmp_path, [Record("t.py::t", "m", "", "instructions_per_inference", 900_000, "instructions")])
    new = baselines.accept(rows, "qemu-x", BudgetBook("qemu-x", [tuned, other]), run_id="run-2")
    got = {(b.model, b.metric): b for b in new.budgets}
    moved = got[("m", "instructions_per_inference")]
    assert (moved.expected, moved.pass_rel, moved.fail_rel, moved.why) == (900_000, 0.0, 0.002, "tuned by hand")
    assert got[("gone", "model_bytes")] == other


def test_accept_splits_a_metric_measured_differently_by_two_tests(tmp_path: Path) -> None:
    rows = _rows(tmp_path, [
        Record("tests/hil/test_a.py::test_one[b]", "m", "", "arena_high_water", 100, "B"),
        Record("tests/hil/test_b.py::test_two[b]", "m", "", "arena_high_water", 200, "B"),
    ])  # fmt: skip
    book = baselines.accept(rows, "qemu-x")
    assert sorted((b.test, b.expected) for b in book.budgets) == [
        ("test_a.py::test_one", 100.0), ("test_b.py::test_two", 200.0),
    ]  # fmt: skip


def test_diff_of_an_accept_is_small(tmp_path: Path) -> None:
    book = BudgetBook("qemu-x", [COUNT, ERROR])
    moved = BudgetBook("qemu-x", [COUNT.__class__(**{**COUNT.__dict__, "expected": 1_000_500.0}), ERROR])
    diff = baselines.unified_diff(book.dumps(), moved.dumps(), "reports/baselines/qemu-x.toml")
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert changed == ["-expected = 1000000.0", "+expected = 1000500.0"]


def test_check_rows_reports_every_budget(tmp_path: Path) -> None:
    t = "tests/hil/test_x.py::test_a[qemu-x]"
    rows = _rows(tmp_path, [
        Record(t, "m", "", "instructions_per_inference", 1_020_000, "instructions"),
        *[Record(t, "m", "", "max_abs_err_vs_ref", v, "1", sample=i) for i, v in enumerate([0.0, 4e-7])],
    ])  # fmt: skip
    missing = Budget(board="qemu-x", model="m", metric="model_bytes", unit="B", expected=1.0, pass_abs=0, fail_rel=1)
    checks = baselines.check_rows(rows, {"qemu-x": BudgetBook("qemu-x", [COUNT, ERROR, missing])})
    status = dict(zip(checks["metric"], checks["status"], strict=True))
    assert status == {"instructions_per_inference": "fail", "max_abs_err_vs_ref": "marginal",
                      "model_bytes": "not measured"}  # fmt: skip
    worst = checks[checks["metric"] == "max_abs_err_vs_ref"].iloc[0]
    assert worst["measured"] == 4e-7 and worst["rows"] == 2


def test_every_band_rule_says_why() -> None:
    for rule in baselines.BAND_RULES:
        assert len(rule.why) > 40, f"rule {rule.metric} needs a reason for its width"
        if rule.budgeted:
            assert (rule.pass_rel is None) != (rule.pass_abs is None)
            assert (rule.fail_rel is None) != (rule.fail_abs is None)


def test_accept_takes_the_last_attempt_of_a_retried_test(tmp_path: Path) -> None:
    t = "tests/hil/test_x.py::test_a[qemu-x]"
    rows = _rows(tmp_path, [
        Record(t, "m", "", "instructions_per_inference", 900_000, "instructions"),  # attempt 1, then the link died
        Record(t, "m", "", "instructions_per_inference", 885_386, "instructions"),  # attempt 2
    ])  # fmt: skip
    assert baselines.accept(rows, "qemu-x").budgets[0].expected == 885_386


def test_accept_leaves_unchanged_budgets_alone_and_skips_zero_high_water(tmp_path: Path) -> None:
    t = "tests/hil/test_x.py::test_a[qemu-x]"
    rows = _rows(tmp_path, [
        Record(t, "m", "", "instructions_per_inference", 1_000_000, "instructions"),
        Record(t, "m", "", "stack_high_water", 0, "B"),  # a board without stack painting reports 0
    ])  # fmt: skip
    old = BudgetBook("qemu-x", [COUNT.__class__(**{**COUNT.__dict__, "accepted_from": "run-0", "source": ""})])
    new = baselines.accept(rows, "qemu-x", old, run_id="run-1")
    assert new.dumps() == old.dumps()  # same figure: no diff, not even the run id


def test_a_per_sample_budget_is_sized_to_the_spread_it_was_accepted_from(tmp_path: Path) -> None:
    """26 of 100 windows of a new dataset fell outside +-0.5%: accepted from those windows, the pass band covers them
    all (with margin), so the identical rerun is never marginal; a tight spread keeps the rule's band."""
    t = "tests/hil/test_x.py::test_a[qemu-x]"
    wide = [100_000 * (1 + d) for d in np.linspace(-0.012, 0.009, 101)]  # median 100,000 - 150, spread ~1.2 %
    rows = _rows(tmp_path / "wide", [
        Record(t, "m", "", "latency_instructions", v, "instructions", sample=i) for i, v in enumerate(wide)
    ])  # fmt: skip
    (budget,) = baselines.accept(rows, "qemu-x", run_id="run-1").budgets
    statuses = [budget.check(v, sample=i).status for i, v in enumerate(wide)]
    assert statuses.count(BudgetStatus.PASS) == len(wide), "an identical rerun must pass every window"
    spread = max(abs(v - budget.expected) for v in wide) / budget.expected
    assert 1.5 * spread <= budget.pass_rel <= 1.5 * spread + 1e-6  # rounded up to the file's 6 decimals
    assert budget.fail_rel >= 2 * budget.pass_rel and "widened" in budget.why
    tight = [100_000 + d for d in (-10, 0, 10)]
    rows = _rows(tmp_path / "tight", [
        Record(t, "m", "", "latency_instructions", v, "instructions", sample=i) for i, v in enumerate(tight)
    ])  # fmt: skip
    (budget,) = baselines.accept(rows, "qemu-x", run_id="run-2").budgets
    assert (budget.pass_rel, budget.fail_rel) == (0.005, 0.02) and "widened" not in budget.why
    # a regression beyond the widened fail band still fails
    assert budget.check(100_000 * 1.05).status is BudgetStatus.FAIL


def test_the_diff_names_a_baseline_outside_the_repository_by_its_own_path(tmp_path) -> None:
    from harness.reporting.baselines import unified_diff

    inside = unified_diff("a = 1\n", "a = 2\n", "reports/baselines/host.toml")
    assert inside.startswith("--- a/reports/baselines/host.toml\n+++ b/reports/baselines/host.toml\n")
    outside = unified_diff("a = 1\n", "a = 2\n", tmp_path / "host.toml")
    assert outside.startswith(f"--- {tmp_path}/host.toml (before)\n+++ {tmp_path}/host.toml (after)\n")
