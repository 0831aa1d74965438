"""harness.lease: one run at a time on a bench board. Real flock locks on real files, other real processes."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from harness.defaults import REPO_ROOT
from harness.lease import BoardBusy, BoardLease, holder_of


@pytest.fixture(autouse=True)
def lock_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HIL_LOCK_DIR", str(tmp_path / "locks"))
    return tmp_path / "locks"


def test_a_held_board_is_refused_naming_its_holder_and_free_after_release() -> None:
    first = BoardLease("lab:nucleo-1", run_id="run-a").acquire()
    try:
        holder = holder_of("lab:nucleo-1")
        assert holder is not None and (holder.pid, holder.run_id) == (os.getpid(), "run-a")
        started = time.monotonic()
        with pytest.raises(BoardBusy, match=rf"'lab:nucleo-1' is held by pid {os.getpid()} on .*, run run-a, since "):
            BoardLease("lab:nucleo-1", run_id="run-b", timeout=0.6).acquire()
        assert 0.5 <= time.monotonic() - started < 3.0
        other = BoardLease("lab:nucleo-2", run_id="run-b", timeout=0.1).acquire()  # another board is free
        other.release()
    finally:
        first.release()
    assert holder_of("lab:nucleo-1") is None
    with BoardLease("lab:nucleo-1", run_id="run-b", timeout=0.1) as second:
        assert second.held and second.took_over is None  # released cleanly: nothing taken over


def test_a_waiting_run_gets_the_board_when_it_is_released_and_says_whom_it_waited_for(caplog) -> None:
    caplog.set_level(logging.INFO, logger="harness.progress")
    first = BoardLease("lab:esp32s3", run_id="run-a").acquire()
    threading.Timer(0.8, first.release).start()
    started = time.monotonic()
    with BoardLease("lab:esp32s3", run_id="run-b", timeout=10) as second:
        assert second.held
        assert 0.7 <= time.monotonic() - started < 5.0
    assert any("waiting for board lab:esp32s3, held by pid" in r.getMessage() for r in caplog.records)


def test_a_board_whose_holder_was_killed_is_taken_over_with_a_warning(caplog, lock_folder) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from harness.lease import BoardLease; "
         "BoardLease('lab:nucleo-1', run_id='killed-run').acquire(); print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "HIL_LOCK_DIR": str(lock_folder)}, cwd=REPO_ROOT,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    with pytest.raises(BoardBusy, match=rf"pid {holder.pid} .*run killed-run"):
        BoardLease("lab:nucleo-1", timeout=0.3).acquire()
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    caplog.set_level(logging.WARNING, logger="harness.lease")
    with BoardLease("lab:nucleo-1", run_id="next-run", timeout=2) as lease:  # the kernel dropped the dead lock
        assert lease.took_over is not None and lease.took_over.pid == holder.pid
    assert any(f"took board lab:nucleo-1 over from pid {holder.pid}" in r.getMessage() for r in caplog.records)
