"""The plugin's verdicts, in pytest runs of their own (pytester): budgets gated at record time, failure classes in
JUnit, retries with the board restarted, and an exit status that tells a regression from a broken bench."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.boards import board_kinds
from harness.reporting import results
from harness.reporting.baselines import Budget, BudgetBook

pytest_plugins = ["pytester"]

# pytester's in-process runs drop the modules they import when they end; the board modules imported here first are
# kept, so every inner run sees the same Board subclasses instead of a second copy of each.
board_kinds()

# A stand-in for the board session: what `record` reads (board name, HELLO, image) and what a retry closes.
CONFTEST = """
import pytest
from types import SimpleNamespace

class FakeSession:
    closed = 0
    def __init__(self):
        self.board = SimpleNamespace(name="fakeboard", budgets_name="fakeboard", alive=lambda: None)
        self.hello = None
        self.image = None
    def close(self):
        FakeSession.closed += 1

@pytest.fixture(scope="session")
def hil_session(pytestconfig):
    from harness.plugin.stash import SESSIONS_KEY
    session = FakeSession()
    pytestconfig.stash[SESSIONS_KEY]["fakeboard"] = session  # as the real fixture registers itself
    return session
"""


@pytest.fixture
def run(pytester: pytest.Pytester, tmp_path: Path):
    pytester.makeconftest(CONFTEST)
    baselines = tmp_path / "baselines"
    BudgetBook("fakeboard", [
        Budget(board="fakeboard", model="m", metric="instructions_per_inference", unit="instructions",
               expected=1000.0, pass_rel=0.001, fail_rel=0.01),
    ]).write(baselines / "fakeboard.toml")  # fmt: skip

    def _run(source: str, *args: str) -> tuple[pytest.RunResult, dict[str, dict[str, str]]]:
        pytester.makepyfile(test_inner=source)
        result = pytester.runpytest(
            "-p", "no:cacheprovider", "--hil-report-dir", str(tmp_path / "reports"), "--hil-run-id", "r",
            "--hil-baselines", str(baselines), *args,
        )  # fmt: skip
        junit = ET.parse(tmp_path / "reports" / "r" / "junit.xml").getroot()
        props = {
            case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
            for case in junit.iter("testcase")
        }
        return result, props

    return _run


def test_a_measurement_beyond_its_budget_fails_its_test_and_exits_1(run) -> None:
    result, props = run(
        """
def test_slow(hil_session, record):
    record("instructions_per_inference", 1050, "instructions", model="m")

def test_fine(hil_session, record):
    record("instructions_per_inference", 1000, "instructions", model="m")
"""
    )
    assert result.ret == 1
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*BudgetExceeded: budget exceeded: instructions_per_inference of m on fakeboard measured 1,050 instructions*",
        "*[[]model[]] *test_inner.py::test_slow: a measurement exceeded its budget*",
        "exit status 1: model failures*",
    ])  # fmt: skip
    assert props["test_slow"]["hil_failure_class"] == "model"
    assert "hil_failure_class" not in props["test_fine"]
    assert "hil_attempts" not in props["test_slow"], "model failures are never retried"


def test_a_marginal_measurement_warns_and_passes(run) -> None:
    result, _ = run(
        """
def test_marginal(hil_session, record):
    record("instructions_per_inference", 1005, "instructions", model="m")
"""
    )
    assert result.ret == 0
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*BudgetMarginal: marginal: instructions_per_inference of m on fakeboard*"])


def test_infrastructure_failures_only_exit_3_after_retries(run) -> None:
    result, props = run(
        """
from harness.proto.client import LinkTimeout

def test_link(hil_session):
    raise LinkTimeout("no answer for INFER seq=7 after 4 attempts")
""",
        "--hil-retries", "2",
    )  # fmt: skip
    assert result.ret == 3
    result.stdout.fnmatch_lines(["*[[]link[]] *test_inner.py::test_link*", "exit status 3: infrastructure*"])
    assert props["test_link"]["hil_failure_class"] == "link"
    assert props["test_link"]["hil_attempts"] == "3"
    assert props["test_link"]["hil_retried_after"].count("link:") == 2


def test_a_board_that_never_answers_is_a_link_failure_after_retries(run, pytester: pytest.Pytester) -> None:
    # the board session's setup fails at every attempt; the retry must run the fixture again, and the report must
    # show the link's error, not pytest's (it once failed its own assertion on the fixture's kept finalizers)
    pytester.makeconftest(
        """
import pytest
from harness.link import LinkError

@pytest.fixture(scope="session")
def hil_session():
    raise LinkError("cannot open link 'socket://127.0.0.1:1' within 10 s: Connection refused")
"""
    )
    # two tests: the first one's session fixture is not torn down before its retry (the next test still needs it)
    source = "def test_link(hil_session):\n    pass\n\n\ndef test_next(hil_session):\n    pass\n"
    result, props = run(source, "--hil-retries", "1")
    assert result.ret == 3, result.stdout.str()[-2000:]
    result.stdout.fnmatch_lines(["*cannot open link 'socket://127.0.0.1:1'*", "exit status 3: infrastructure*"])
    assert props["test_link"]["hil_failure_class"] == "link", props
    assert props["test_link"]["hil_attempts"] == "2", props
    assert "AssertionError" not in result.stdout.str()


def test_a_retry_restarts_the_board_and_may_pass(run, tmp_path: Path) -> None:
    marker = tmp_path / "attempted"
    result, props = run(
        f"""
import pathlib
from harness.link import LinkError

def test_flaky(hil_session):
    marker = pathlib.Path({str(marker)!r})
    if not marker.exists():
        marker.write_text("1")
        raise LinkError("reading from socket://127.0.0.1:1 failed: socket disconnected")
    assert type(hil_session).closed == 1, "the board session was not closed (restarted) before the retry"
"""
    )
    assert result.ret == 0
    result.assert_outcomes(passed=1)
    assert props["test_flaky"]["hil_attempts"] == "2"
    assert "hil_failure_class" not in props["test_flaky"]


def test_retries_off_and_a_model_failure_beside_a_link_failure_exit_1(run) -> None:
    result, props = run(
        """
from harness.link import LinkError

def test_link(hil_session):
    raise LinkError("port gone")

def test_model(hil_session):
    assert 1.0 == 2.0, "device output differs from the reference"
""",
        "--hil-retries", "0",
    )  # fmt: skip
    assert result.ret == 1
    assert props["test_link"]["hil_failure_class"] == "link" and "hil_attempts" not in props["test_link"]
    assert props["test_model"]["hil_failure_class"] == "model"


def test_a_dataset_that_fails_its_checks_is_a_data_failure_exit_6_and_not_retried(run, tmp_path: Path) -> None:
    result, props = run(
        f"""
import pytest
from harness import datasets

def test_missing(hil_session, monkeypatch):
    monkeypatch.setenv(datasets.ENV_VAR, {str(tmp_path / "nowhere")!r})
    datasets.load("a_dataset_nobody_shipped")
""",
        "--hil-retries", "2",
    )  # fmt: skip
    assert result.ret == 6
    result.stdout.fnmatch_lines([
        "*[[]data[]] *test_inner.py::test_missing: the dataset is missing or does not match its manifest*",
        "exit status 6: data failures*",
    ])  # fmt: skip
    assert props["test_missing"]["hil_failure_class"] == "data"
    assert "hil_attempts" not in props["test_missing"], "no restart of the board mends a dataset"


def test_an_unknown_capability_in_hil_requires_is_a_usage_error_naming_the_known_ones(pytester) -> None:
    pytester.makepyfile(
        test_inner="""
import pytest

@pytest.mark.hil_requires("lstm_f32", "quant_int4")
def test_needs_int4():
    pass
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([
        "*hil_requires names capabilities no firmware reports:*",
        "*test_inner.py::test_needs_int4: 'quant_int4'*",
        "*known capabilities: *lstm_f32*quant_s8*",
    ])  # fmt: skip


def test_collecting_hil_tests_without_running_them_leaves_no_run_folder(pytester, tmp_path: Path) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_inner="def test_on_a_board(hil_session, record):\n    pass\n")
    reports = tmp_path / "reports"
    result = pytester.runpytest("-p", "no:cacheprovider", "--collect-only", "--hil-report-dir", str(reports))
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*test_on_a_board*"])
    assert not reports.exists() or not any(reports.iterdir()), sorted(reports.rglob("*"))


def test_a_baud_that_is_no_rate_is_a_usage_error(pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_inner="def test_on_a_board(hil_session):\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "--collect-only", "--hil-baud", "0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--hil-baud 0: a UART's rate is a positive number of bits per second*"])


def test_xdist_workers_write_every_row_once_into_one_run_folder_and_their_verdicts_reach_the_summary(
    pytester, tmp_path: Path
) -> None:
    pytester.makeconftest(CONFTEST)
    baselines = tmp_path / "baselines"
    BudgetBook("fakeboard", [
        Budget(board="fakeboard", model="m", metric="instructions_per_inference", unit="instructions",
               expected=1000.0, pass_rel=0.001, fail_rel=0.01),
    ]).write(baselines / "fakeboard.toml")  # fmt: skip
    pytester.makepyfile(
        test_inner="""
import os, pytest

@pytest.mark.parametrize("k", range(12))
def test_rows(hil_session, record, k):
    for sample in range(5):
        record("worker_pid", os.getpid(), "", model="m", sample=sample)
    record("instructions_per_inference", 1005.0 if k == 11 else 1000.0, "instructions", model="m")  # 11: marginal
"""
    )
    reports = tmp_path / "reports"
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider", "--hil-report-dir", str(reports),
                                           "--hil-run-id", "r", "--hil-baselines", str(baselines))  # fmt: skip
    assert result.ret == 0, result.stdout.str()
    rows = results.read_results(reports / "r")
    pids = rows[rows["metric"] == "worker_pid"]
    assert len(pids) == 12 * 5 and not pids.duplicated(["test", "sample"]).any()  # each row once, none lost
    assert pids["value"].nunique() == 2  # both workers wrote into the one file
    assert (rows["run_id"] == "r").all()
    # the verdicts each worker gated, summed up by the controller
    result.stdout.fnmatch_lines(["*budget checks: 11 pass, 1 marginal, 0 fail*"])
    junit = ET.parse(reports / "r" / "junit.xml").getroot()
    assert len(list(junit.iter("testcase"))) == 12
