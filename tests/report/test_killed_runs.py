"""A run killed with kill -9 leaves nothing running, and the next run finishes what it left.

Three kills, each while the run streams inferences on the host board with rows already on disk: the
`python -m harness run` process alone, it and its pytest child together, and the pytest child alone. After each,
no pytest or board process of that run may survive; after the next run, the history holds each killed run's rows
marked incomplete, and its run.json and report say so.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.defaults import REPO_ROOT
from harness.reporting import history

SLOW_TEST = """
import time

import numpy as np

from harness.models.lstm import LstmModel


def test_streams_until_killed(deploy, record):
    dep = deploy(LstmModel.random(3, [8], 1, seed=1))
    for i in range(1200):
        record("ticks", dep.client.infer(np.zeros((4, 3), np.float32)).ticks, "ticks", model="killed", sample=i)
        time.sleep(0.05)
"""

QUICK_TEST = """
def test_one_row(record):
    record("answer", 42.0, "", model="next")
"""


def _processes_of(run_id: str) -> dict[int, str]:
    """pid -> command line of every live process of the run: its pytest (run id on the command line) and the boards
    it started (HIL_RUN_ID in their environment)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if state == "Z":
            continue  # dead, waiting for its parent to read its status
        if f"--hil-run-id {run_id}" in cmdline or f"HIL_RUN_ID={run_id}".encode() in environ:
            found[int(entry.name)] = cmdline.strip()
    return found


def _start_run(test_file: Path, reports: Path, said: list[str]) -> tuple[subprocess.Popen, str]:
    """Start a run; what it prints before its "HIL run <id>:" line (runs it recovered) goes to ``said``."""
    run = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", str(test_file), "--board", "host", "--report-dir", str(reports),
         "--no-browser"],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert run.stdout is not None
    line = run.stdout.readline()  # "HIL run <id>: ..." comes first (after any recovered run)
    while line and not line.startswith("HIL run "):
        said.append(line)
        line = run.stdout.readline()
    assert line.startswith("HIL run "), f"no run id printed: {line!r}"
    return run, line.split()[2].rstrip(":")


def _wait_for_rows(reports: Path, run_id: str, rows: int, timeout: float = 120.0) -> None:
    results = reports / run_id / "results.csv"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if results.is_file() and results.read_text().count("\n") > rows:
            return
        time.sleep(0.1)
    pytest.fail(f"run {run_id} wrote no {rows} rows within {timeout:.0f} s")


def _pytest_pid(run: subprocess.Popen, run_id: str) -> int:
    """The run's pytest: the child of the run process (not a child of pytest's own, forked and not yet exec'd)."""
    for pid, cmd in _processes_of(run_id).items():
        try:
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[1])
        except OSError:
            continue
        if ppid == run.pid and " -m pytest " in cmd:
            return pid
    raise AssertionError(f"no pytest child of run {run_id} (pid {run.pid}): {_processes_of(run_id)}")


def _board_pids(run_id: str) -> list[int]:
    return [pid for pid, cmd in _processes_of(run_id).items() if " -m pytest " not in cmd]


def _gone(run_id: str, timeout: float = 20.0) -> dict[int, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = _processes_of(run_id)
        if not left:
            return {}
        time.sleep(0.2)
    return _processes_of(run_id)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signals are Linux's")
def test_killed_runs_leave_no_process_and_are_finished_by_the_next_run(tmp_path: Path) -> None:
    slow, quick = tmp_path / "test_slow.py", tmp_path / "test_quick.py"
    slow.write_text(SLOW_TEST)
    quick.write_text(QUICK_TEST)
    reports = tmp_path / "reports"
    killed: dict[str, str] = {}
    said: list[str] = []
    for how in ("run", "run and pytest", "pytest"):
        run, run_id = _start_run(slow, reports, said)
        try:
            _wait_for_rows(reports, run_id, rows=5)
            boards = _board_pids(run_id)
            assert boards, "the host board of the run should be running"
            victims = {"run": [run.pid], "run and pytest": [run.pid, _pytest_pid(run, run_id)],
                       "pytest": [_pytest_pid(run, run_id)]}[how]  # fmt: skip
            for pid in victims:
                os.kill(pid, signal.SIGKILL)
            left = _gone(run_id)
            assert not left, f"after kill -9 of the {how}, processes of run {run_id} survive: {left}"
        finally:
            if run.poll() is None and how == "pytest":
                run.wait(timeout=60)  # the run process outlives its pytest and finishes the folder itself
            if run.poll() is None:
                run.kill()
            run.wait()
        killed[run_id] = how

    nxt = subprocess.run(
        [sys.executable, "-m", "harness", "run", str(quick), "--board", "host", "--report-dir", str(reports),
         "--no-browser"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert nxt.returncode == 0, nxt.stdout[-3000:] + nxt.stderr[-3000:]
    rows = history.read_history(reports)
    by_run = rows.groupby("run_id")["run_complete"].agg(set).to_dict()
    for run_id, how in killed.items():
        assert by_run.get(run_id) == {False}, f"run killed ({how}) is not in the history marked incomplete: {by_run}"
        meta = (reports / run_id / "run.json").read_text()
        assert '"state": "incomplete"' in meta, meta
        assert "Incomplete:" in (reports / run_id / "report.html").read_text()
        if how != "pytest":  # the run process itself was killed: the next run recovered it and said so
            assert f"finished run {run_id}, which was killed" in "".join(said) + nxt.stdout
    assert {False} not in [v for k, v in by_run.items() if k not in killed], "the next run itself is complete"
