"""Failure classes of failed tests (:mod:`harness.reporting.failure_classes`) and the run's verdicts.

Every failed test gets a class and a reason: a JUnit property per testcase (``hil_failure_class``,
``hil_failure_reason``) and a line in the terminal summary. The exit status says what failed: 0 all passed; 1 a
model failure (the model regressed); 3 only infrastructure failures (the bench is broken). pytest's other codes (2
interrupted, 4 usage, 5 no tests) pass through.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from harness.plugin import run_folder
from harness.plugin.stash import DEVICE_TEXT_KEY, EVIDENCE_KEY, FAILURES_KEY, SESSIONS_KEY, VERDICTS_KEY
from harness.reporting import failure_classes, history
from harness.reporting.baselines import BudgetStatus
from harness.reporting.failure_classes import (
    EXIT_MEANINGS,
    EXIT_MODEL_FAILED,
    PROPERTY_CLASS,
    PROPERTY_REASON,
    exit_status,
)


def _board_logs(config: pytest.Config) -> list[Path]:
    if run_folder.existing(config) is None:
        return []
    folder = run_folder.boards_dir(config)
    return sorted(folder.glob("*.log")) if folder.is_dir() else []


def mark_evidence(item: pytest.Item) -> None:
    """Note where the board logs and the device's text stand, so a failure sees only what this test caused."""
    item.config.stash[EVIDENCE_KEY][item.nodeid] = {
        "logs": {p: p.stat().st_size for p in _board_logs(item.config)},
        "text": len(item.config.stash[DEVICE_TEXT_KEY]),
    }


def _session_of(item: pytest.Item):
    sessions = item.config.stash.get(SESSIONS_KEY, {})
    callspec = getattr(item, "callspec", None)
    name = callspec.params.get("hil_board_name") if callspec else None
    return sessions.get(name) if name else None


def evidence(item: pytest.Item) -> failure_classes.Evidence:
    """What the board and the device showed while ``item`` ran: liveness, the device's text, the board's log."""
    marks = item.config.stash[EVIDENCE_KEY].get(item.nodeid, {"logs": {}, "text": 0})
    session = _session_of(item)
    logs = _board_logs(item.config)
    own_log = session.board.facts().get("log") if session is not None else None
    if own_log:  # the board under test's log only: another board stopped meanwhile is not this test's evidence
        logs = [p for p in logs if p.resolve() == Path(own_log).resolve()]
    board_log = ""
    for path in logs:
        with path.open("rb") as f:
            f.seek(marks["logs"].get(path, 0))
            board_log += f.read(1 << 20).decode(errors="replace")
    device_text = "\n".join(item.config.stash[DEVICE_TEXT_KEY][marks["text"] :])
    alive = session.board.alive() if session is not None else None
    return failure_classes.Evidence(board_alive=alive, device_text=device_text, board_log=board_log)


def classify_report(item: pytest.Item, call: pytest.CallInfo, report: pytest.TestReport) -> None:
    """Give a failed report its class; the first failure of an attempt decides."""
    if not report.failed or call.excinfo is None or getattr(item, "_hil_failure", None):
        return
    found = failure_classes.classify(call.excinfo.value, evidence(item))
    item._hil_failure = found  # type: ignore[attr-defined]
    props = [(PROPERTY_CLASS, found.failure_class.value), (PROPERTY_REASON, found.reason)]
    item.user_properties.extend(props)  # the teardown report, which JUnit takes properties from, copies these
    report.user_properties.extend(props)
    report.hil_failure_class = found.failure_class.value  # plain strings: reports cross to xdist's controller
    report.hil_failure_reason = found.reason


class RunVerdicts:
    """Run-level hooks, as an object so they reach the config: failures seen, exit status, terminal summary."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not report.failed:
            return
        cls = getattr(report, "hil_failure_class", None) or failure_classes.FailureClass.MODEL.value
        reason = getattr(report, "hil_failure_reason", None) or "failed without an exception (a strict xfail passed?)"
        self.config.stash[FAILURES_KEY].setdefault(report.nodeid, (cls, reason))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        failures = self.config.stash[FAILURES_KEY]
        if session.exitstatus == pytest.ExitCode.TESTS_FAILED and failures:
            session.exitstatus = exit_status([cls for cls, _ in failures.values()])
        run_dir = run_folder.existing(self.config)
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
            counts = {s: sum(v.status is s for v in verdicts) for s in BudgetStatus}
            tr.write_line("budget checks: " + ", ".join(f"{n} {s.value}" for s, n in counts.items()))
            for v in verdicts:
                if v.status is not BudgetStatus.PASS:
                    tr.write_line(f"  {v.status.value.upper()}: {v.message}", red=v.status is BudgetStatus.FAIL,
                                  yellow=v.status is BudgetStatus.MARGINAL)  # fmt: skip
        for nodeid, (cls, reason) in failures.items():
            tr.write_line(f"[{cls}] {nodeid}: {reason}", red=True)
        if failures:
            code = exit_status([cls for cls, _ in failures.values()])
            tr.write_line(f"exit status {code}: {EXIT_MEANINGS[code]}", red=code == EXIT_MODEL_FAILED)
