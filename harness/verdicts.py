"""pytest side of a run's verdicts: budgets gated at record time, failure classes, retries, the exit status,
live progress, and the run's Parquet rows. Registered by harness.plugin (``pytest_plugins``).

- ``record`` calls :func:`gate` for every row: a measurement beyond its budget's fail band raises
  :class:`~harness.baselines.BudgetExceeded` (the test fails), one in the marginal band warns.
- Every failed test gets a failure class (:mod:`harness.taxonomy`): a JUnit property per testcase
  (``hil_failure_class``, ``hil_failure_reason``), a line in the terminal summary.
- ``--hil-retries N``: a test on a board that failed for an infrastructure reason (flash, link, board) is run
  again up to N times with the board restarted (session closed and reopened); model failures never are.
- Exit status: 0 all passed; 1 a model failure (the model regressed); 3 only infrastructure failures (the bench is
  broken). pytest's other codes (2 interrupted, 4 usage, 5 no tests) pass through.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from _pytest.runner import runtestprotocol

from harness import baselines, history, plugin, taxonomy
from harness.baselines import BudgetBook, BudgetExceeded, BudgetMarginal, Status, Verdict
from harness.build import REPO_ROOT
from harness.taxonomy import (
    EXIT_MEANINGS,
    EXIT_MODEL_FAILED,
    PROPERTY_ATTEMPTS,
    PROPERTY_CLASS,
    PROPERTY_REASON,
    PROPERTY_RETRIED,
    exit_status,
)

progress = logging.getLogger("harness.progress")

DEFAULT_BASELINES = REPO_ROOT / "reports" / "baselines"


BOOKS_KEY = pytest.StashKey[dict[str, BudgetBook | None]]()
VERDICTS_KEY = pytest.StashKey[list[Verdict]]()
FAILURES_KEY = pytest.StashKey[dict[str, tuple[str, str]]]()
EVIDENCE_KEY = pytest.StashKey[dict]()
DEVICE_TEXT_KEY = pytest.StashKey[list[str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hil")
    group.addoption(
        "--hil-retries",
        type=int,
        default=1,
        metavar="N",
        help="run a test again up to N times, board restarted, after a flash/link/board failure (default 1); "
        "model failures are never retried",
    )
    group.addoption(
        "--hil-baselines",
        default=None,
        metavar="DIR",
        help="folder of <board>.toml budgets checked at record time (default reports/baselines/); 'none' to "
        "record without budgets",
    )
    group.addoption(
        "--hil-progress",
        action="store_true",
        default=False,
        help="show harness.progress lines (uploads, windows, budget verdicts) live while tests run",
    )


class _TerminalProgress(logging.Handler):
    """Writes progress lines through pytest's terminal writer, past output capture, as live logging does."""

    def __init__(self, config: pytest.Config) -> None:
        super().__init__(logging.INFO)
        self.config = config

    def emit(self, record: logging.LogRecord) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        capman = self.config.pluginmanager.get_plugin("capturemanager")
        with capman.global_and_fixture_disabled() if capman else contextlib.nullcontext():
            if reporter._tw.width_of_current_line:  # after pytest's dots: start a line of our own
                reporter.write("\n")
            reporter.write_line(self.format(record))


class _DeviceText(logging.Handler):
    """Keeps the text lines devices send on their links (boot banner, HIL-FAULT), evidence for failure classes."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("device text:"):
            self.lines.append(message)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[BOOKS_KEY] = {}
    config.stash[VERDICTS_KEY] = []
    config.stash[FAILURES_KEY] = {}
    config.stash[EVIDENCE_KEY] = {}
    config.stash[DEVICE_TEXT_KEY] = []
    handlers: list[tuple[logging.Logger, logging.Handler]] = []
    wire = logging.getLogger("harness.wire")
    handlers.append((wire, _DeviceText(config.stash[DEVICE_TEXT_KEY])))
    if config.getoption("--hil-progress"):
        handler = _TerminalProgress(config)
        handler.setFormatter(logging.Formatter("  %(message)s"))
        progress.setLevel(logging.INFO)
        handlers.append((progress, handler))
    for logger, handler in handlers:
        logger.addHandler(handler)
    config.add_cleanup(lambda: [logger.removeHandler(handler) for logger, handler in handlers])
    config.pluginmanager.register(RunVerdicts(config), "hil-verdicts")


# ---- budgets --------------------------------------------------------------------------------------------------
def _baselines_dir(config: pytest.Config) -> Path | None:
    value = config.getoption("--hil-baselines")
    if value == "none":
        return None
    return Path(value) if value else DEFAULT_BASELINES


def budget_book(config: pytest.Config, board: str) -> BudgetBook | None:
    """The budgets of ``board`` (None: it has none). Loaded once per run and copied into the run folder, so the
    report rebuilt later shows the budgets that gated this run, not whatever the baseline is by then."""
    books = config.stash[BOOKS_KEY]
    if board not in books:
        directory = _baselines_dir(config)
        book = BudgetBook.for_board(directory, board) if directory and board else None
        run_dir = config.stash.get(plugin.RUN_DIR_KEY, None)
        if book is not None and book.path is not None and run_dir is not None:
            snapshot = run_dir / "baselines"
            snapshot.mkdir(exist_ok=True)
            shutil.copyfile(book.path, snapshot / book.path.name)
        books[board] = book
    return books[board]


def gate(
    config: pytest.Config, *, board: str, test: str, model: str, metric: str, value: float, unit: str,
    sample: int | None = None, tally: bool = True,
) -> Verdict | None:  # fmt: skip
    """Check one measurement against its budget: raise BudgetExceeded beyond the fail band, warn when marginal.
    ``tally=False`` keeps the verdict out of the run's budget summary (a deliberately altered image's figure)."""
    book = budget_book(config, board)
    budget = book.lookup(test, model, metric) if book else None
    if budget is None:
        return None
    run_dir = config.stash.get(plugin.RUN_DIR_KEY, None)
    verdict = budget.check(float(value), sample=sample, run_id=run_dir.name if run_dir else "")
    if tally:
        config.stash[VERDICTS_KEY].append(verdict)
    if tally and verdict.status is not Status.PASS:
        progress.info("budget %s: %s", verdict.status.value, verdict.message)
    elif tally and sample is None:  # a pass is one short line; the whole budget is in the report
        progress.info("budget pass: %s %s %s = %s", board, model, metric, baselines.fmt(float(value), unit))
    if verdict.status is Status.FAIL:
        raise BudgetExceeded(verdict.message)
    if verdict.status is Status.MARGINAL:
        warnings.warn(BudgetMarginal(verdict.message), stacklevel=3)
    return verdict


@pytest.fixture
def hil_budgets(request: pytest.FixtureRequest) -> BudgetBook | None:
    """The budgets of the board under test (None when it has no baseline file)."""
    session = request.getfixturevalue("hil_session")
    return budget_book(request.config, session.board.name)


@pytest.fixture
def check_budget(request: pytest.FixtureRequest) -> Callable[..., Verdict | None]:
    """check_budget(metric, value, unit, *, model, test=None, sample=None): the gate `record` applies, without
    writing a row — for a test that measures a deliberately altered image and must not pollute the run's figures."""
    session = request.getfixturevalue("hil_session")

    def _check(metric: str, value: float, unit: str, *, model: str, test: str | None = None,
               sample: int | None = None) -> Verdict | None:  # fmt: skip
        return gate(request.config, board=session.board.name, test=test or request.node.nodeid, model=model,
                    metric=metric, value=value, unit=unit, sample=sample, tally=False)  # fmt: skip

    return _check


# ---- failure classes ------------------------------------------------------------------------------------------
def _board_logs(config: pytest.Config) -> list[Path]:
    run_dir = config.stash.get(plugin.RUN_DIR_KEY, None)
    return sorted((run_dir / "boards").glob("*.log")) if run_dir and (run_dir / "boards").is_dir() else []


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Mark where the board logs and the device's text stand, so a failure sees only what this test caused."""
    item.config.stash[EVIDENCE_KEY][item.nodeid] = {
        "logs": {p: p.stat().st_size for p in _board_logs(item.config)},
        "text": len(item.config.stash[DEVICE_TEXT_KEY]),
    }


def _session_of(item: pytest.Item):
    sessions = item.config.stash.get(plugin.SESSIONS_KEY, {})
    callspec = getattr(item, "callspec", None)
    name = callspec.params.get("hil_board_name") if callspec else None
    return sessions.get(name) if name else None


def _evidence(item: pytest.Item) -> taxonomy.Evidence:
    marks = item.config.stash[EVIDENCE_KEY].get(item.nodeid, {"logs": {}, "text": 0})
    board_log = ""
    for path in _board_logs(item.config):
        with path.open("rb") as f:
            f.seek(marks["logs"].get(path, 0))
            board_log += f.read(1 << 20).decode(errors="replace")
    device_text = "\n".join(item.config.stash[DEVICE_TEXT_KEY][marks["text"] :])
    alive = None
    session = _session_of(item)
    # Board has no public liveness query yet; the process-backed boards (host, QEMU) keep their process here.
    proc = getattr(session.board, "_proc", None) if session is not None else None
    if proc is not None:
        alive = proc.alive()
    return taxonomy.Evidence(board_alive=alive, device_text=device_text, board_log=board_log)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if not report.failed or call.excinfo is None or getattr(item, "_hil_failure", None):
        return
    found = taxonomy.classify(call.excinfo.value, _evidence(item))
    item._hil_failure = found  # type: ignore[attr-defined]  # the first failure of an attempt decides
    props = [(PROPERTY_CLASS, found.failure_class.value), (PROPERTY_REASON, found.reason)]
    item.user_properties.extend(props)  # the teardown report, which JUnit takes properties from, copies these
    report.user_properties.extend(props)
    report.hil_failure_class = found.failure_class.value  # plain strings: reports cross to xdist's controller
    report.hil_failure_reason = found.reason


def _restart_boards(config: pytest.Config) -> None:
    for session in list(config.stash.get(plugin.SESSIONS_KEY, {}).values()):
        session.close()  # the next fixture that needs the board starts it again: a fresh process, a new link


def _forget_failed_fixtures(item: pytest.Item) -> None:
    """pytest keeps a fixture's setup error for the rest of its scope; a retry must run the fixture again."""
    for defs in getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {}).values():
        for fixturedef in defs:
            cached = getattr(fixturedef, "cached_result", None)
            if cached is not None and cached[2] is not None:
                fixturedef.cached_result = None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    retries = item.config.getoption("--hil-retries")
    if retries <= 0 or "hil_session" not in getattr(item, "fixturenames", ()):
        return None  # pytest's own protocol; failures are still classified
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    attempt = 1
    retried_after: list[str] = []
    while True:
        item._hil_failure = None  # type: ignore[attr-defined]
        reports = runtestprotocol(item, nextitem=nextitem, log=False)
        found: taxonomy.Classification | None = item._hil_failure  # type: ignore[attr-defined]
        if found is None or not found.failure_class.retryable or attempt > retries:
            break
        progress.warning("retry %d/%d of %s after a %s", attempt, retries, item.nodeid, found)
        retried_after.append(str(found))
        item.user_properties[:] = [p for p in item.user_properties if p[0] not in (PROPERTY_CLASS, PROPERTY_REASON)]
        _restart_boards(item.config)
        _forget_failed_fixtures(item)
        attempt += 1
    if attempt > 1:
        for report in reports:
            report.user_properties += [(PROPERTY_ATTEMPTS, attempt), (PROPERTY_RETRIED, " | ".join(retried_after))]
    for report in reports:
        item.ihook.pytest_runtest_logreport(report=report)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


class RunVerdicts:
    """Run-level hooks, as an object so they reach the config: failures seen, exit status, terminal summary."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not report.failed:
            return
        cls = getattr(report, "hil_failure_class", None) or taxonomy.FailureClass.MODEL.value
        reason = getattr(report, "hil_failure_reason", None) or "failed without an exception (a strict xfail passed?)"
        self.config.stash[FAILURES_KEY].setdefault(report.nodeid, (cls, reason))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        failures = self.config.stash[FAILURES_KEY]
        if session.exitstatus == pytest.ExitCode.TESTS_FAILED and failures:
            session.exitstatus = exit_status([cls for cls, _ in failures.values()])
        run_dir = self.config.stash.get(plugin.RUN_DIR_KEY, None)
        if run_dir is not None and not hasattr(self.config, "workerinput"):
            with contextlib.suppress(FileNotFoundError):  # a run that recorded nothing has no rows to convert
                history.write_parquet(run_dir)

    def pytest_terminal_summary(self, terminalreporter, exitstatus: int) -> None:
        failures = self.config.stash[FAILURES_KEY]
        verdicts = self.config.stash[VERDICTS_KEY]
        if not failures and not verdicts:
            return
        tr = terminalreporter
        tr.section("hil verdicts")
        if verdicts:
            counts = {s: sum(v.status is s for v in verdicts) for s in Status}
            tr.write_line("budget checks: " + ", ".join(f"{n} {s.value}" for s, n in counts.items()))
            for v in verdicts:
                if v.status is not Status.PASS:
                    tr.write_line(f"  {v.status.value.upper()}: {v.message}", red=v.status is Status.FAIL,
                                  yellow=v.status is Status.MARGINAL)  # fmt: skip
        for nodeid, (cls, reason) in failures.items():
            tr.write_line(f"[{cls}] {nodeid}: {reason}", red=True)
        if failures:
            code = exit_status([cls for cls, _ in failures.values()])
            tr.write_line(f"exit status {code}: {EXIT_MEANINGS[code]}", red=code == EXIT_MODEL_FAILED)


__all__ = ["RunVerdicts", "budget_book", "gate"]
